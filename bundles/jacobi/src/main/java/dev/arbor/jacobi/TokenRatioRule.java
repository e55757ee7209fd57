package dev.arbor.jacobi;

/**
 * SJD's acceptance: {@code p(x) / q(x)}, the speculative-sampling ratio of Leviathan et al. and Chen et al., which
 * with residual resampling keeps the target's distribution exactly (METHODS.md section 2.2; SJD reference
 * {@code github.com/tyshiwo1/Accelerating-T2I-AR-with-SJD @b389cfb : scheduler/jacobi_iteration_lumina_mgpt.py},
 * {@code SpeculativeSampler.__call__}). A draft with {@code q(x) = 0} cannot have been drawn from q; it gets ratio
 * {@code +inf} when {@code p(x) > 0} (accept) and 0 otherwise, rather than a NaN.
 */
public final class TokenRatioRule implements AcceptanceRule {
    /** Stateless; one instance serves every request. */
    public static final TokenRatioRule INSTANCE = new TokenRatioRule();

    private TokenRatioRule() {
    }

    @Override
    public double ratio(Verification v) {
        double p = v.targetProbability(v.token());
        double q = v.draftProbability(v.token());
        if (q > 0) {
            return p / q;
        }
        return p > 0 ? Double.POSITIVE_INFINITY : 0.0;
    }
}
