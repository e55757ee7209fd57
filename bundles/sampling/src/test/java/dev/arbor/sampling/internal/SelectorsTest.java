package dev.arbor.sampling.internal;

import static dev.arbor.sampling.internal.Rows.NEG_INF;
import static dev.arbor.sampling.internal.Rows.ln;
import static dev.arbor.sampling.internal.Rows.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.sampling.SamplingMath;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import org.apache.commons.math3.distribution.ChiSquaredDistribution;
import org.junit.jupiter.api.Test;

class SelectorsTest {
    // p = (0.125, 0.5, NEG, 0.25, 0.125)
    private static final float[] ROW = {ln(0.125), ln(0.5), NEG_INF, ln(0.25), ln(0.125)};
    private static final double[] ROW_P = {0.125, 0.5, 0.0, 0.25, 0.125};

    /** An RNG that only hands out scripted nextDouble() values and fails on any other use. */
    private static final class ScriptedRandom implements RandomGenerator {
        private final Deque<Double> script = new ArrayDeque<>();
        int draws;

        ScriptedRandom(double... values) {
            Arrays.stream(values).forEach(script::add);
        }

        @Override
        public double nextDouble() {
            draws++;
            if (script.isEmpty()) {
                throw new AssertionError("more nextDouble() calls than scripted");
            }
            return script.poll();
        }

        @Override
        public long nextLong() {
            throw new AssertionError("only nextDouble() may be drawn");
        }
    }

    private static SamplingContext ctx(RandomGenerator random, int vocab) {
        return new SamplingContext(new int[] {0}, vocab, random);
    }

    private static TokenSelector greedy() {
        return new GreedySelectorFactory().create(Options.empty());
    }

    private static TokenSelector sample() {
        return new SampleSelectorFactory().create(Options.empty());
    }

    @Test
    void greedyReturnsArgmaxOneHotAndTheSoftmaxLogProbability() {
        ScriptedRandom rng = new ScriptedRandom();
        Selection s = greedy().select(ROW.clone(), ctx(rng, 5));
        assertThat(s.token()).isEqualTo(1);
        assertThat(s.distribution()).containsExactly(0, 1, 0, 0, 0);
        assertThat(s.logProbability()).isCloseTo(Math.log(0.5), within(1e-6));
        assertThat(s.confidence()).isCloseTo(0.5, within(1e-6));
        assertThat(rng.draws).isZero();
    }

    @Test
    void greedyBreaksTiesTowardsTheLowestId() {
        Selection s = greedy().select(new float[] {1, 3, 3, NEG_INF}, ctx(new ScriptedRandom(), 4));
        assertThat(s.token()).isEqualTo(1);
        // two tokens at 3: p = e^3 / (e^1 + 2 e^3) = 1 / (e^-2 + 2) = 0.4683105
        assertThat(s.confidence()).isCloseTo(0.4683105, within(1e-6));
        Selection equal = greedy().select(new float[] {7, 7, 7, 7}, ctx(new ScriptedRandom(), 4));
        assertThat(equal.token()).isZero();
        assertThat(equal.logProbability()).isCloseTo(Math.log(0.25), within(1e-12));
    }

    @Test
    void selectorsReportARowWithNothingLeftAsAPluginFailure() {
        for (TokenSelector selector : new TokenSelector[] {greedy(), sample()}) {
            assertThatThrownBy(() -> selector.select(new float[] {NEG_INF, NEG_INF}, ctx(new ScriptedRandom(0.5), 2)))
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.PLUGIN_FAILURE))
                    .hasMessageContaining("every one of the 2 logits is -inf");
            assertThatThrownBy(() -> selector.select(new float[] {0, Float.NaN}, ctx(new ScriptedRandom(0.5), 2)))
                    .hasMessageContaining("logit of token 1 is NaN");
        }
    }

    @Test
    void sampleReturnsTheSoftmaxItSampledFromAndOneDrawPerToken() {
        ScriptedRandom rng = new ScriptedRandom(0.7);
        Selection s = sample().select(ROW.clone(), ctx(rng, 5));
        // cumulative over ids 0..4: .125, .625, .625, .875, 1 -> u = .7 falls in id 3
        assertThat(s.token()).isEqualTo(3);
        for (int i = 0; i < ROW_P.length; i++) {
            assertThat((double) s.distribution()[i]).isCloseTo(ROW_P[i], within(1e-6));
        }
        assertThat(s.distribution()[2]).isZero();
        assertThat(s.logProbability()).isCloseTo(Math.log(0.25), within(1e-6));
        assertThat(s.confidence()).isCloseTo(0.25, within(1e-6));
        assertThat(rng.draws).isEqualTo(1);
    }

    @Test
    void sampleIsInverseCdfOverAscendingIds() {
        // Equal logits give exact quarters: u in [0,.25) -> 0, [.25,.5) -> 1, [.5,.75) -> 2, [.75,1) -> 3.
        double[] us = {0.0, 0.2499, 0.25, 0.4999, 0.5, 0.75, Math.nextDown(1.0)};
        int[] expected = {0, 0, 1, 1, 2, 3, 3};
        ScriptedRandom rng = new ScriptedRandom(us);
        TokenSelector selector = sample();
        SamplingContext c = ctx(rng, 4);
        for (int i = 0; i < us.length; i++) {
            assertThat(selector.select(new float[] {0, 0, 0, 0}, c).token()).as("u = %s", us[i]).isEqualTo(expected[i]);
        }
        assertThat(rng.draws).isEqualTo(us.length);
        // A removed token between two live ones takes no share of [0, 1).
        ScriptedRandom gap = new ScriptedRandom(0.4999, 0.5);
        SamplingContext g = ctx(gap, 3);
        assertThat(selector.select(new float[] {0, NEG_INF, 0}, g).token()).isZero();
        assertThat(selector.select(new float[] {0, NEG_INF, 0}, g).token()).isEqualTo(2);
    }

    @Test
    void sampleWithTemperatureZeroIsGreedyAndDrawsNothing() {
        ScriptedRandom rng = new ScriptedRandom();
        TokenSelector selector = new SampleSelectorFactory().create(options("temperature", 0));
        Selection s = selector.select(ROW.clone(), ctx(rng, 5));
        assertThat(s.token()).isEqualTo(1);
        assertThat(s.distribution()).containsExactly(0, 1, 0, 0, 0);
        assertThat(rng.draws).isZero();
    }

    @Test
    void sameSeedSameSequenceAndTheSequenceIsTheDocumentedInverseCdf() {
        int[] first = draw(42, 500);
        assertThat(draw(42, 500)).containsExactly(first);
        assertThat(draw(43, 500)).isNotEqualTo(first);
        // The documented consumption: one nextDouble() per token, inverse CDF over ascending ids.
        SplittableRandom reference = new SplittableRandom(42);
        double[] weights = new double[ROW.length];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = Math.exp(ROW[i] - ROW[1]);
        }
        for (int i = 0; i < first.length; i++) {
            assertThat(first[i]).as("draw %d", i).isEqualTo(SamplingMath.inverseCdf(weights, reference.nextDouble()));
        }
    }

    private static int[] draw(long seed, int n) {
        TokenSelector selector = sample();
        SamplingContext c = SamplingContext.seeded(new int[] {0}, ROW.length, seed);
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = selector.select(ROW.clone(), c).token();
            c.append(tokens[i]);
        }
        return tokens;
    }

    // --- chi-square goodness of fit, fixed seed, with a power check ---------------------------------------------

    private static final int N = 20_000;
    /** Critical value at alpha = 0.001 for the 3 degrees of freedom of the 4 live cells. */
    private static final double CRITICAL = new ChiSquaredDistribution(3).inverseCumulativeProbability(0.999);

    private static long[] counts(TokenSelector selector, long seed) {
        SamplingContext c = SamplingContext.seeded(new int[] {0}, ROW.length, seed);
        long[] counts = new long[ROW.length];
        for (int i = 0; i < N; i++) {
            counts[selector.select(ROW.clone(), c).token()]++;
        }
        return counts;
    }

    /** Pearson's statistic over the cells with expected probability > 0; a draw from a zero cell is infinite. */
    private static double chiSquare(long[] observed, double[] p) {
        double stat = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == 0) {
                if (observed[i] > 0) {
                    return Double.POSITIVE_INFINITY;
                }
                continue;
            }
            double e = N * p[i];
            stat += (observed[i] - e) * (observed[i] - e) / e;
        }
        return stat;
    }

    @Test
    void sampleFrequenciesMatchTheSoftmax() {
        assertThat(CRITICAL).isCloseTo(16.266, within(1e-3));
        long[] observed = counts(sample(), 20240601L);
        assertThat(observed[2]).as("draws of the -inf token").isZero();
        assertThat(chiSquare(observed, ROW_P)).isLessThan(CRITICAL);
    }

    @Test
    void theFrequencyTestHasPowerAgainstWrongDistributions() {
        long[] observed = counts(sample(), 20240601L);
        // Same draws against a slightly wrong distribution (.45/.3 instead of .5/.25): must reject.
        assertThat(chiSquare(observed, new double[] {0.125, 0.45, 0.0, 0.3, 0.125})).isGreaterThan(CRITICAL);
        // A plausible bug: inverse CDF over logits shifted to be non-negative, not over exp(logits).
        TokenSelector linear = (logits, context) -> {
            double min = Double.POSITIVE_INFINITY;
            for (float l : logits) {
                if (l != NEG_INF) {
                    min = Math.min(min, l);
                }
            }
            double[] w = new double[logits.length];
            for (int i = 0; i < w.length; i++) {
                w[i] = logits[i] == NEG_INF ? 0 : logits[i] - min + 0.1;
            }
            int token = SamplingMath.inverseCdf(w, context.random().nextDouble());
            return new Selection(token, new float[logits.length], 0, 0);
        };
        assertThat(chiSquare(counts(linear, 20240601L), ROW_P)).isGreaterThan(CRITICAL);
        // And a sampler that applies temperature 1.25 by mistake.
        TokenSelector hot = (logits, context) -> {
            float[] scaled = logits.clone();
            for (int i = 0; i < scaled.length; i++) {
                scaled[i] /= 1.25f;
            }
            return sample().select(scaled, context);
        };
        assertThat(chiSquare(counts(hot, 20240601L), ROW_P)).isGreaterThan(CRITICAL);
    }
}
