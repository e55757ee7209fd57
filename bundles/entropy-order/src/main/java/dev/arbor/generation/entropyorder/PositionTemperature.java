package dev.arbor.generation.entropyorder;

import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.RemaskingPolicy;
import dev.arbor.diffusion.StepView;
import java.util.ArrayList;
import java.util.List;

/**
 * Which positions to unmask in Dream's / DiffuCoder's decoder (Gong et al. 2025, "DiffuCoder: Understanding and
 * Improving Masked Diffusion Models for Code Generation", arXiv:2506.20639; Dream {@code _sample}, {@code alg_temp};
 * METHODS.md §3.8): with position temperature {@code alg_temp = 0} the {@code count} most confident (top-k, ties to
 * the left); otherwise {@code count} positions drawn without replacement with probabilities
 * {@code softmax(confidence / alg_temp)}, as {@code torch.multinomial(softmax(conf / alg_temp), k)} does: each draw
 * proportional to the remaining weights, from the request RNG. DiffuCoder's observation is that a higher temperature
 * diversifies the generation order, not only the tokens; as {@code alg_temp} grows the order becomes uniform.
 */
public final class PositionTemperature implements RemaskingPolicy {
    private final double algTemp;

    public PositionTemperature(double algTemp) {
        if (!(algTemp >= 0) || Double.isInfinite(algTemp)) {
            throw new IllegalArgumentException("alg_temp must be finite and >= 0, got " + algTemp);
        }
        this.algTemp = algTemp;
    }

    @Override
    public List<Proposal> choose(StepView step, List<Proposal> proposals, int count) {
        if (algTemp == 0) {
            return LOW_CONFIDENCE.choose(step, proposals, count);
        }
        double max = Double.NEGATIVE_INFINITY;
        for (Proposal p : proposals) {
            max = Math.max(max, p.confidence());
        }
        double[] weight = new double[proposals.size()];
        for (int i = 0; i < weight.length; i++) {
            // Max-subtracted, so the weights stay finite for any confidence scale and temperature.
            weight[i] = Math.exp((proposals.get(i).confidence() - max) / algTemp);
        }
        boolean[] drawn = new boolean[weight.length];
        List<Proposal> chosen = new ArrayList<>(count);
        for (int draw = 0; draw < Math.min(count, weight.length); draw++) {
            double total = 0;
            int fallback = -1; // the most confident undrawn position: the limit when every weight left underflowed
            for (int i = 0; i < weight.length; i++) {
                if (!drawn[i]) {
                    total += weight[i];
                    if (fallback < 0 || proposals.get(i).confidence() > proposals.get(fallback).confidence()) {
                        fallback = i;
                    }
                }
            }
            int pick = fallback;
            if (total > 0) {
                double u = step.random().nextDouble() * total;
                double cumulative = 0;
                for (int i = 0; i < weight.length; i++) {
                    if (!drawn[i] && weight[i] > 0) {
                        cumulative += weight[i];
                        pick = i;
                        if (u < cumulative) {
                            break; // else (rounding: u at the very top) the last positive weight keeps the pick
                        }
                    }
                }
            }
            drawn[pick] = true;
            chosen.add(proposals.get(pick));
        }
        return chosen;
    }
}
