package dev.arbor.blockgen;

import dev.arbor.guidance.Guidance;

/**
 * Classifier-free guidance of a group-parallel decode, by step (the forward that samples the row): the guided row
 * of step {@code step} of {@code steps}. {@link #of} adapts the shared {@link Guidance} (convention, scale, ramp over
 * the steps); a decoder with its own schedule (DetailFlow's gradual CFG) implements this directly.
 */
public interface StepGuidance {

    /** True when no step is guided: the decode then runs no unconditional row at all. */
    boolean inert();

    /** The convention's parameter at step {@code step} of {@code steps} (reported in the stats). */
    double parameterAt(int step, int steps);

    /** True when step {@code step} needs the unconditional row (its parameter is not inert). */
    boolean guides(int step, int steps);

    /** The guided logits of one row; {@code cond} itself when the step is inert. {@code model} names it in errors. */
    float[] combine(float[] cond, float[] uncond, int step, int steps, String model);

    /** The shared guidance options as a step schedule (its ramp runs over the steps). */
    static StepGuidance of(Guidance g) {
        return new StepGuidance() {
            @Override
            public boolean inert() {
                return g.inert();
            }

            @Override
            public double parameterAt(int step, int steps) {
                return g.parameterAt(step, steps);
            }

            @Override
            public boolean guides(int step, int steps) {
                return g.guides(step, steps);
            }

            @Override
            public float[] combine(float[] cond, float[] uncond, int step, int steps, String model) {
                return g.combine(cond, uncond, step, steps, model);
            }
        };
    }
}
