package dev.arbor.jacobi;

import java.util.Map;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * Decides how likely a draft token is to be accepted in one verification of {@link JacobiDecoder}: the draft is
 * accepted with probability {@code min(1, ratio)} (METHODS.md section 2.2). The loop owns everything else: the
 * uniform draw (only when the ratio is strictly between 0 and 1), the residual resampling
 * {@code norm(max(0, p - q))} at the first rejection, and the KV rollback. A ratio of NaN counts as a rejection,
 * as {@code r < NaN} is false in the reference code.
 *
 * <p>{@link TokenRatioRule} ({@code p(x) / q(x)}) keeps the output distribution exactly the target's; a rule that
 * returns more than that for some token (GSD's grouped ratio) is lossy by design.
 *
 * <p>One instance serves one request (a rule may cache per-request data such as embedding rows); it is called on
 * the request's thread only.
 */
@ConsumerType
public interface AcceptanceRule {

    /**
     * The acceptance ratio of {@code v.token()} (before clamping to 1).
     *
     * @param v the draft token, its draft distribution and the target's processed logits and probabilities
     */
    double ratio(Verification v);

    /** Rule-specific figures for {@code GenerationResult.stats} after the request (keys should be namespaced). */
    default Map<String, Object> stats() {
        return Map.of();
    }

    /**
     * One verification: draft token {@code x} at some position, checked against the target row predicting it.
     *
     * @param token  the draft token x
     * @param draft  the draft distribution q it was drawn from, or null for a deterministic draft (q one-hot at x:
     *               fresh initialisations, METHODS.md section 3.1)
     * @param logits the target's processed logits of that row (the request's processor chain applied with that
     *               position's history); read-only
     * @param target the target's processed distribution p of that row (what the selector draws from; one-hot for
     *               greedy selection); read-only
     */
    record Verification(int token, double[] draft, float[] logits, double[] target) {

        /** q(id): the draft probability of {@code id} (1 or 0 for a deterministic draft). */
        public double draftProbability(int id) {
            return draft == null ? (id == token ? 1.0 : 0.0) : draft[id];
        }

        /** p(id): the target probability of {@code id}. */
        public double targetProbability(int id) {
            return target[id];
        }
    }
}
