package dev.arbor.speculative;

import dev.arbor.testkit.ChiSquare;

/**
 * The significance of this module's chi-square exactness tests: a family-wise alpha of 0.001, Bonferroni-corrected
 * over the {@value #CONSISTENCY_TESTS} consistency tests of the module (two in {@code VerificationLoopTest}, three in
 * {@code SpeculativeGeneratorExactnessTest}). Power checks must reject at the same per-test level.
 */
public final class Significance {
    public static final double FAMILY_ALPHA = 0.001;
    public static final int CONSISTENCY_TESTS = 5;
    public static final double ALPHA = ChiSquare.bonferroni(FAMILY_ALPHA, CONSISTENCY_TESTS);
    /** Samples per chi-square test (METHODS.md section 5.5 asks for at least 10^5). */
    public static final int SAMPLES = 100_000;

    private Significance() {
    }
}
