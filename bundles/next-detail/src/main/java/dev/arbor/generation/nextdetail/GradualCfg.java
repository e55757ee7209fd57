package dev.arbor.generation.nextdetail;

import dev.arbor.api.ArborException;
import dev.arbor.blockgen.GroupLayout;
import dev.arbor.blockgen.StepGuidance;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;

/**
 * DetailFlow's gradual classifier-free guidance ({@code github.com/ByteFlow-AI/DetailFlow :
 * autoregressive/models/generate.py generate_group_par}, {@code gradual_cfg=True}): the token-by-token steps of the
 * causal start use the full weight {@code w}; the step that samples group {@code g} (tokens {@code g·G .. g·G+G−1},
 * of {@code N/G} groups) uses {@code w·(N/G − g + 1)/(N/G + 1)}, so guidance fades as the tokens turn from layout to
 * detail. {@code w} is the convention's weight of {@code guidance_scale} (LlamaGen's {@code s}, DetailFlow's own
 * convention: {@code uncond + w·(cond − uncond)}); a scaled weight is reported in the convention's parameter.
 * Immutable.
 */
final class GradualCfg implements StepGuidance {
    private final Guidance base;
    private final GroupLayout groups;
    private final int groupCount;

    private GradualCfg(Guidance base, GroupLayout groups) {
        this.base = base;
        this.groups = groups;
        this.groupCount = groups.tokens() / groups.groupSize();
    }

    /**
     * The gradual schedule of {@code base} over {@code groups}; INVALID_INPUT when the groups do not tile the image
     * from position 0 (DetailFlow's {@code causal_num} is a multiple of the group size) or a ramp is also asked for.
     */
    static GradualCfg of(Guidance base, GroupLayout groups) {
        int g = groups.groupSize();
        if (groups.causalNum() % g != 0 || groups.tokens() % g != 0) {
            throw ArborException.invalid("gradual_cfg scales guidance by DetailFlow's group index, which needs "
                    + "causal_num (" + groups.causalNum() + ") and the image's " + groups.tokens() + " tokens to be "
                    + "multiples of group_size " + g + "; use such a causal_num or turn gradual_cfg off");
        }
        if (base.ramp() != CfgRamp.CONSTANT) {
            throw ArborException.invalid("gradual_cfg is DetailFlow's own guidance schedule and replaces cfg_ramp; "
                    + "drop cfg_ramp (" + base.ramp().name().toLowerCase(java.util.Locale.ROOT) + ") or gradual_cfg");
        }
        return new GradualCfg(base, groups);
    }

    @Override
    public boolean inert() {
        return base.inert();
    }

    /** The convention's parameter whose weight is the step's (gradually scaled) weight. */
    @Override
    public double parameterAt(int step, int steps) {
        if (base.inert()) {
            return base.scale();
        }
        // every convention's weight is parameter + constant, so the parameter of weight w is w − weight(0)
        return weightAt(step) - base.convention().weight(0);
    }

    /** The weight {@code w} of {@code uncond + w·(cond − uncond)} at step {@code step}. */
    double weightAt(int step) {
        double w = base.convention().weight(base.scale());
        GroupLayout.Step s = groups.steps().get(step);
        if (s.size() == 1 && s.to() <= groups.causalNum()) {
            return w; // the causal start: full guidance, as DetailFlow's token-by-token loop
        }
        int g = s.from() / groups.groupSize();
        return w * (groupCount - g + 1) / (groupCount + 1);
    }

    @Override
    public boolean guides(int step, int steps) {
        return !base.inert() && weightAt(step) != 1.0;
    }

    @Override
    public float[] combine(float[] cond, float[] uncond, int step, int steps, String model) {
        if (!guides(step, steps)) {
            return cond;
        }
        return Guidance.combineWeighted(cond, uncond, weightAt(step), model);
    }
}
