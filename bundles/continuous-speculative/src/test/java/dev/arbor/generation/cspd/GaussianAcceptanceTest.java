package dev.arbor.generation.cspd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.util.SplittableRandom;
import org.apache.commons.math3.distribution.AbstractRealDistribution;
import org.apache.commons.math3.distribution.NormalDistribution;
import org.apache.commons.math3.stat.inference.KolmogorovSmirnovTest;
import org.junit.jupiter.api.Test;

class GaussianAcceptanceTest {
    /** Target p = N(0, 1) and draft q = N(0.8, 1.5²): they overlap, but visibly differ. */
    static final DiagonalGaussian P = gaussian(0.0, 1.0);
    static final DiagonalGaussian Q = gaussian(0.8, 1.5 * 1.5);
    static final int SAMPLES = 20_000;
    /** Significance of the KS tests (fixed seeds: the outcome is deterministic). */
    static final double ALPHA = 0.01;

    static DiagonalGaussian gaussian(double mean, double variance) {
        return new DiagonalGaussian(new double[] {mean}, new double[] {variance});
    }

    /** Draws x ~ q with fresh noise and keeps what {@code rule} keeps (the draft or its resample). */
    static double[] speculative(GaussianAcceptance rule, DiagonalGaussian q, DiagonalGaussian p, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        double[] out = new double[SAMPLES];
        for (int i = 0; i < SAMPLES; i++) {
            float[] x = q.sample(new double[] {rng.nextGaussian()});
            out[i] = rule.verify(x, q, p, rng).token()[0];
        }
        return out;
    }

    @Test
    void textbookAcceptedAndResampledTokensFollowTheTarget() {
        double[] kept = speculative(GaussianAcceptance.textbook(GaussianAcceptance.DEFAULT_TEXTBOOK_TRIES), Q, P, 7);
        double pValue = new KolmogorovSmirnovTest().kolmogorovSmirnovTest(new NormalDistribution(0, 1), kept);
        assertThat(pValue).as("KS p-value of the kept tokens against p").isGreaterThan(ALPHA);
    }

    @Test
    void theKsTestDetectsTheDraftsLawAndTheReferenceRule() {
        // negative controls on the same sample size: the draft's own tokens, and the as-coded rule (which keeps
        // almost every draft at T = 42), are rejected as samples of p
        SplittableRandom rng = new SplittableRandom(7);
        double[] drafts = new double[SAMPLES];
        for (int i = 0; i < SAMPLES; i++) {
            drafts[i] = Q.sample(new double[] {rng.nextGaussian()})[0];
        }
        KolmogorovSmirnovTest ks = new KolmogorovSmirnovTest();
        assertThat(ks.kolmogorovSmirnovTest(new NormalDistribution(0, 1), drafts)).isLessThan(1e-6);
        double[] asCoded = speculative(GaussianAcceptance.asCoded(GaussianAcceptance.DEFAULT_INNER_TEMPERATURE), Q,
                P, 7);
        assertThat(ks.kolmogorovSmirnovTest(new NormalDistribution(0, 1), asCoded)).isLessThan(1e-6);
    }

    @Test
    void textbookResampleFollowsTheResidual() {
        GaussianAcceptance rule = GaussianAcceptance.textbook(GaussianAcceptance.DEFAULT_TEXTBOOK_TRIES);
        SplittableRandom rng = new SplittableRandom(11);
        double[] draws = new double[SAMPLES];
        for (int i = 0; i < SAMPLES; i++) {
            GaussianAcceptance.Verdict v = rule.resample(Q, P, rng);
            assertThat(v.fallback()).isFalse();
            draws[i] = v.token()[0];
        }
        Residual residual = new Residual(P, Q);
        KolmogorovSmirnovTest ks = new KolmogorovSmirnovTest();
        assertThat(ks.kolmogorovSmirnovTest(residual, draws)).as("against max(0, p - q)/Z").isGreaterThan(ALPHA);
        // and it is not simply p
        assertThat(ks.kolmogorovSmirnovTest(new NormalDistribution(0, 1), draws)).isLessThan(1e-6);
    }

    @Test
    void drawsOfTheDraftAreAllAcceptedWhenDraftEqualsTarget() {
        DiagonalGaussian g = new DiagonalGaussian(new double[] {0.3, -1.2, 2.0}, new double[] {0.5, 0.04, 1.7});
        SplittableRandom rng = new SplittableRandom(3);
        for (GaussianAcceptance rule : new GaussianAcceptance[] {GaussianAcceptance.textbook(10),
                GaussianAcceptance.asCoded(GaussianAcceptance.DEFAULT_INNER_TEMPERATURE),
                GaussianAcceptance.asCoded(0.5)}) {
            for (int i = 0; i < 2_000; i++) {
                float[] x = g.sample(new double[] {rng.nextGaussian(), rng.nextGaussian(), rng.nextGaussian()});
                GaussianAcceptance.Verdict v = rule.verify(x, g, g, rng);
                assertThat(v.accepted()).as(rule + " draw " + i).isTrue();
                assertThat(v.token()).containsExactly(x);
            }
        }
    }

    @Test
    void asCodedRatioIsTheKernelRatioWithVariancesAsWidths() {
        DiagonalGaussian q = new DiagonalGaussian(new double[] {0.0, 1.0}, new double[] {0.5, 2.0});
        DiagonalGaussian p = new DiagonalGaussian(new double[] {0.5, 0.0}, new double[] {0.25, 1.0});
        float[] x = {1.0f, -1.0f};
        double t = 0.7;
        double expected = Math.exp(0.5 * (sq((1 - 0.0) / (0.5 * t)) + sq((-1 - 1.0) / (2.0 * t)))
                - 0.5 * (sq((1 - 0.5) / (0.25 * t)) + sq((-1 - 0.0) / (1.0 * t))));
        assertThat(GaussianAcceptance.asCoded(t).acceptProbability(x, q, p))
                .isCloseTo(Math.min(1, expected), org.assertj.core.data.Offset.offset(1e-12));
        // the residual's acceptance of a proposal: max(0, g_p - g_q·Πv_q/Πv_p)/g_p with g using v as the std
        double gp = Math.exp(-0.5 * (sq((1 - 0.5) / 0.25) + sq((-1 - 0.0) / 1.0))) / (2 * Math.PI * 0.25 * 1.0);
        double gq = Math.exp(-0.5 * (sq((1 - 0.0) / 0.5) + sq((-1 - 1.0) / 2.0))) / (2 * Math.PI * 0.5 * 2.0);
        double alpha = Math.max(0, gp - gq * (0.5 * 2.0) / (0.25 * 1.0)) / gp;
        assertThat(GaussianAcceptance.asCoded(t).residualOverProposal(x, q, p))
                .isCloseTo(alpha, org.assertj.core.data.Offset.offset(1e-12));
    }

    @Test
    void resamplingStopsAtItsCapWithTheModesFallback() {
        // q == p: the residual is empty, so no proposal can be accepted
        DiagonalGaussian g = new DiagonalGaussian(new double[] {1.5, -0.5}, new double[] {0.3, 0.8});
        GaussianAcceptance.Verdict coded = GaussianAcceptance.asCoded(42).resample(g, g, new SplittableRandom(1));
        assertThat(coded.fallback()).isTrue();
        assertThat(coded.tries()).isEqualTo(GaussianAcceptance.AS_CODED_TRIES);
        assertThat(coded.token()).containsExactly(0f, 0f);

        GaussianAcceptance.Verdict textbook = GaussianAcceptance.textbook(25).resample(g, g, new SplittableRandom(1));
        assertThat(textbook.fallback()).isTrue();
        assertThat(textbook.tries()).isEqualTo(25);
        // the fallback is the last proposal, a draw from p: finite and near p's mean
        assertThat(textbook.token()[0]).isBetween(1.5f - 6 * (float) Math.sqrt(0.3), 1.5f + 6 * (float) Math.sqrt(0.3));
        assertThat(textbook.token()[1]).isBetween(-0.5f - 6 * (float) Math.sqrt(0.8), -0.5f + 6 * (float) Math.sqrt(0.8));

        // a residual with mass ends before the cap
        GaussianAcceptance.Verdict found = GaussianAcceptance.textbook(10_000).resample(Q, P, new SplittableRandom(1));
        assertThat(found.fallback()).isFalse();
        assertThat(found.tries()).isBetween(1, 9_999);
    }

    @Test
    void refusesBadParameters() {
        assertThatThrownBy(() -> GaussianAcceptance.asCoded(0)).isInstanceOf(ArborException.class)
                .hasMessageContaining("inner_temperature");
        assertThatThrownBy(() -> new GaussianAcceptance(GaussianAcceptance.Mode.TEXTBOOK, 1, 0))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(GaussianAcceptance.Mode.parse(" As_Coded ")).isEqualTo(GaussianAcceptance.Mode.AS_CODED);
        assertThat(GaussianAcceptance.Mode.parse("exact")).isNull();
        assertThatThrownBy(() -> new DiagonalGaussian(new double[] {0}, new double[] {0}))
                .hasMessageContaining("positive variance");
        assertThatThrownBy(() -> DiagonalGaussian.fromHead(new float[] {Float.NaN, 0}, 1, "toy"))
                .isInstanceOf(ArborException.class).hasMessageContaining("toy");
    }

    @Test
    void headColumnsAreReadWithTheClampedLogVariance() {
        DiagonalGaussian g = DiagonalGaussian.fromHead(new float[] {0.5f, -2f, 100f, -100f, 9f}, 2, "toy");
        assertThat(g.mean()).containsExactly(0.5, -2.0);
        assertThat(g.variance()).containsExactly(Math.exp(DiagonalGaussian.MAX_LOG_VARIANCE),
                Math.exp(DiagonalGaussian.MIN_LOG_VARIANCE));
    }

    private static double sq(double x) {
        return x * x;
    }

    /**
     * The law max(0, p − q)/Z of 1-D Gaussians, its CDF by numerical integration on a fine grid. The Kolmogorov–Smirnov
     * test reads only the CDF, so the moments and the density are left unsupported.
     */
    static final class Residual extends AbstractRealDistribution {
        private static final double LO = -12;
        private static final double HI = 12;
        private static final int STEPS = 240_000;
        private final double[] cdf = new double[STEPS + 1];

        Residual(DiagonalGaussian p, DiagonalGaussian q) {
            super(null);
            NormalDistribution np = new NormalDistribution(p.mean(0), Math.sqrt(p.variance(0)));
            NormalDistribution nq = new NormalDistribution(q.mean(0), Math.sqrt(q.variance(0)));
            double h = (HI - LO) / STEPS;
            double prev = Math.max(0, np.density(LO) - nq.density(LO));
            for (int i = 1; i <= STEPS; i++) {
                double x = LO + i * h;
                double f = Math.max(0, np.density(x) - nq.density(x));
                cdf[i] = cdf[i - 1] + 0.5 * (prev + f) * h;
                prev = f;
            }
            double z = cdf[STEPS];
            for (int i = 0; i <= STEPS; i++) {
                cdf[i] /= z;
            }
        }

        @Override
        public double cumulativeProbability(double x) {
            if (x <= LO) {
                return 0;
            }
            if (x >= HI) {
                return 1;
            }
            double pos = (x - LO) / (HI - LO) * STEPS;
            int i = (int) pos;
            double w = pos - i;
            return cdf[i] * (1 - w) + cdf[Math.min(i + 1, STEPS)] * w;
        }

        @Override
        public double density(double x) {
            throw new UnsupportedOperationException();
        }

        @Override
        public double getNumericalMean() {
            throw new UnsupportedOperationException();
        }

        @Override
        public double getNumericalVariance() {
            throw new UnsupportedOperationException();
        }

        @Override
        public double getSupportLowerBound() {
            return LO;
        }

        @Override
        public double getSupportUpperBound() {
            return HI;
        }

        @Override
        public boolean isSupportLowerBoundInclusive() {
            return true;
        }

        @Override
        public boolean isSupportUpperBoundInclusive() {
            return true;
        }

        @Override
        public boolean isSupportConnected() {
            return true;
        }
    }
}
