package dev.arbor.generation.eoserass;

import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.RemaskingPolicy;
import dev.arbor.diffusion.StepView;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * EOS early rejection (EOSER) of Yang et al. 2025, "Taming Masked Diffusion Language Models via Consistency
 * Trajectory Reinforcement Learning with Fewer Decoding Step" (arXiv:2509.23924; {@code yjyddq/EOSER-ASS-RL
 * eval/generate.py eoser_generate, eoser_ass_generate}; METHODS.md §3.6): a proposal whose token is an EOS id has its
 * confidence multiplied by {@code f(s)} before LLaDA's low-confidence choice, with {@code f} rising from
 * {@code gamma_min} at the first step to (about) {@code gamma_max} at the last, so that full-diffusion decoding does not
 * fall into the "EOS trap" of committing the (very confident) EOS padding first and then writing a short answer
 * before it. With {@code gamma_min = gamma_max = 1} it is exactly {@link RemaskingPolicy#LOW_CONFIDENCE}.
 *
 * <p>The step {@code s} and count {@code S} are those of the current block ({@link StepView#step()},
 * {@link StepView#steps()}); the reference mixes a within-block index with a global total, which only agrees with
 * this for one block (what its eval script enforces). Confidences must be non-negative (max_prob, margin) for the
 * scaling to lower them.
 */
public final class EosEarlyRejection implements RemaskingPolicy {

    /** How the EOS factor rises over the steps of a block. */
    public enum Ramp {
        /** {@code eoser_generate}: {@code gamma_min + (gamma_max - gamma_min) s / (S-1)} (gamma_max when S = 1). */
        LINEAR,
        /**
         * {@code eoser_ass_generate}: {@code gamma_min + (gamma_max - gamma_min) (2^(s+1) - 1) / 2^S}, the fraction of
         * the region an ascending schedule has decoded after step {@code s}.
         */
        ASCENDING
    }

    private final double gammaMin;
    private final double gammaMax;
    private final int[] eosIds;
    private final Ramp ramp;

    public EosEarlyRejection(double gammaMin, double gammaMax, int[] eosIds, Ramp ramp) {
        if (!(gammaMin >= 0 && gammaMin <= gammaMax)) {
            throw new IllegalArgumentException("need 0 <= gamma_min <= gamma_max, got " + gammaMin + ", " + gammaMax);
        }
        this.gammaMin = gammaMin;
        this.gammaMax = gammaMax;
        this.eosIds = eosIds.clone();
        this.ramp = ramp;
    }

    /** The factor applied to EOS confidences at step {@code s} of {@code steps}. */
    public double factor(int s, int steps) {
        double progress = switch (ramp) {
            case LINEAR -> steps <= 1 ? 1.0 : (double) s / (steps - 1);
            case ASCENDING -> (Math.scalb(1.0, s + 1) - 1) / Math.scalb(1.0, steps);
        };
        return gammaMin + (gammaMax - gammaMin) * progress;
    }

    @Override
    public List<Proposal> choose(StepView step, List<Proposal> proposals, int count) {
        double f = factor(step.step(), step.steps());
        List<Proposal> scaled = new ArrayList<>(proposals.size());
        Map<Proposal, Proposal> original = new IdentityHashMap<>();
        for (Proposal p : proposals) {
            Proposal q = isEos(p.token())
                    ? new Proposal(p.position(), p.token(), p.confidence() * f, p.probability(), p.selection())
                    : p;
            scaled.add(q);
            original.put(q, p);
        }
        List<Proposal> chosen = new ArrayList<>();
        for (Proposal q : LOW_CONFIDENCE.choose(step, scaled, count)) {
            chosen.add(original.get(q));
        }
        return chosen;
    }

    private boolean isEos(int token) {
        for (int e : eosIds) {
            if (e == token) {
                return true;
            }
        }
        return false;
    }
}
