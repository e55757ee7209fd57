package dev.arbor.guidance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import java.util.Map;
import org.junit.jupiter.api.Test;

class GuidanceTest {

    /** METHODS.md §3.2 honest test 4: the ramp is inert at the first step and exactly the scale at the last. */
    @Test
    void rampsStartInertAndEndAtTheScaleExactly() {
        for (CfgConvention convention : CfgConvention.values()) {
            for (CfgRamp ramp : new CfgRamp[] {CfgRamp.LINEAR, CfgRamp.COSINE}) {
                for (double scale : new double[] {0.1, 0.3, 1.5, 1.7, 7.5}) {
                    for (int steps : new int[] {2, 6, 10, 49}) {
                        Guidance g = new Guidance(convention, scale, ramp);
                        assertThat(g.parameterAt(0, steps)).isEqualTo(convention.inert());
                        assertThat(g.guides(0, steps)).isFalse();
                        assertThat(g.parameterAt(steps - 1, steps)).isEqualTo(scale);
                        double previous = g.parameterAt(0, steps);
                        for (int k = 1; k < steps; k++) {
                            double p = g.parameterAt(k, steps);
                            assertThat((p - previous) * (scale - convention.inert())).as("monotone towards the scale")
                                    .isGreaterThanOrEqualTo(0.0);
                            previous = p;
                        }
                    }
                }
            }
        }
        // VAR: t = cfg·k/(K−1)
        Guidance var = new Guidance(CfgConvention.VAR, 1.5, CfgRamp.LINEAR);
        assertThat(var.parameterAt(3, 6)).isEqualTo(1.5 * 3 / 5);
    }

    @Test
    void aConstantRampIsTheScaleAtEveryStepBitForBit() {
        for (double scale : new double[] {0.1, 0.3, 0.7, 1.1, 2.9}) {
            Guidance g = new Guidance(CfgConvention.LLAMAGEN, scale, CfgRamp.CONSTANT);
            for (int k = 0; k < 5; k++) {
                assertThat(g.parameterAt(k, 5)).isEqualTo(scale);
            }
        }
    }

    @Test
    void theWeightsOfTheConventions() {
        assertThat(CfgConvention.LLAMAGEN.weight(2.0)).isEqualTo(2.0);
        assertThat(CfgConvention.VAR.weight(1.5)).isEqualTo(2.5);
        assertThat(CfgConvention.LLADA.weight(0.5)).isEqualTo(1.5);
        Guidance read = Guidance.read(Options.of(Map.of("cfg_convention", "LLaDA", "cfg_ramp", "cosine")),
                CfgConvention.VAR, 1.5, CfgRamp.LINEAR);
        assertThat(read).isEqualTo(new Guidance(CfgConvention.LLADA, 1.5, CfgRamp.COSINE));
        assertThat(Guidance.read(Options.empty(), CfgConvention.VAR, 1.5, CfgRamp.LINEAR))
                .isEqualTo(new Guidance(CfgConvention.VAR, 1.5, CfgRamp.LINEAR));
    }
}
