package dev.arbor.generation.tidar;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Trait;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.TestContexts;
import dev.arbor.testkit.TestSelectors;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * TiDAR's output law is the target's (METHODS.md §3.10 honest test 1): an oracle backend serves the AR rows from an
 * exact joint over 120 sequences and the MASK rows from a deliberately wrong draft (another joint's conditional,
 * blurred differently per MASK index, ignoring the accepted drafts it should condition on); 60,000 sequences sampled
 * with the tidar generator follow the joint (Pearson chi-square), the draft's own law does not fit them, and a
 * generator that accepts drafts without the ratio test is rejected by the same test (power check); with a
 * history-dependent processor chain the output follows the exact law of plain sampling with that chain.
 */
class TiDarExactnessTest {
    private static final EnumeratedJointBackend TARGET = EnumeratedJointBackend.randomVariableLength(3, 4, 11);
    private static final EnumeratedJointBackend DRAFT = EnumeratedJointBackend.randomVariableLength(3, 4, 97);
    private static final int BOS = TARGET.boundaryToken();
    private static final int SAMPLES = 60_000;
    private static final double ALPHA = 1e-3;

    /** MASK i after {@code prefix}: DRAFT's conditional after the prefix, mixed with a uniform weight 0.2 i. */
    private static final BiFunction<int[], Integer, float[]> WRONG_DRAFT = new BiFunction<>() {
        private final Map<List<Integer>, float[]> memo = new HashMap<>();

        @Override
        public float[] apply(int[] prefix, Integer i) {
            List<Integer> key = new java.util.ArrayList<>(Arrays.stream(prefix).boxed().toList());
            key.add(-1 - i);
            return memo.computeIfAbsent(key, k -> {
                int end = 1;
                while (end < prefix.length && prefix[end] != BOS) {
                    end++;
                }
                double[] p = DRAFT.conditional(Arrays.copyOfRange(prefix, 1, Math.min(end, 1 + 4)));
                float[] logits = new float[BOS + 2];
                double mix = Math.min(0.8, 0.2 * i);
                for (int v = 0; v <= BOS; v++) {
                    logits[v] = (float) Math.log((1 - mix) * p[v] + mix / (BOS + 1));
                }
                logits[BOS + 1] = Float.NEGATIVE_INFINITY; // the MASK id is never drafted
                return logits;
            }).clone();
        }
    };

    /** A repetition penalty (CTRL's rule on every id in the history) then temperature 0.8: history-dependent. */
    private static final List<LogitsProcessor> CHAIN = List.of(new LogitsProcessor() {
        @Override
        public void process(float[] logits, SamplingContext context) {
            boolean[] seen = new boolean[logits.length];
            for (int t : context.tokens()) {
                seen[t] = true;
            }
            for (int v = 0; v < logits.length; v++) {
                if (seen[v] && Float.isFinite(logits[v])) {
                    logits[v] = logits[v] > 0 ? logits[v] / 1.6f : logits[v] * 1.6f;
                }
            }
        }

        @Override
        public Set<Trait> traits() {
            return Set.of(Trait.HISTORY_DEPENDENT, Trait.SPECULATIVE_SAFE);
        }
    }, (logits, context) -> {
        for (int v = 0; v < logits.length; v++) {
            logits[v] /= 0.8f;
        }
    });

    private static Map<List<Integer>, Long> sample(TiDarGenerator generator, int draftLength, long[] stats) {
        return sample(generator, draftLength, stats, TestContexts.sampling());
    }

    private static Map<List<Integer>, Long> sample(TiDarGenerator generator, int draftLength, long[] stats,
                                                   Supplier<Sampler> chain) {
        TiDarOracleBackend model = TiDarOracleBackend.of(TARGET, 64, WRONG_DRAFT);
        Map<List<Integer>, Long> counts = new HashMap<>();
        for (int s = 0; s < SAMPLES; s++) {
            GenerationResult r = generator.generate(TestContexts.context(model, new int[] {BOS}, 10,
                    chain, new int[] {BOS}, 1_000_003L * s + 7, Map.of("draft_length",
                            draftLength)), TokenSink.DISCARD);
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
            counts.merge(Arrays.stream(r.tokens()).boxed().toList(), 1L, Long::sum);
            stats[0] += ((Number) r.stats().get(TiDarGenerator.DRAFTED)).longValue();
            stats[1] += ((Number) r.stats().get(TiDarGenerator.ACCEPTED)).longValue();
            stats[2] += r.forwardPasses();
        }
        assertThat(model.openStates).isZero();
        return counts;
    }

    @Test
    void sampledSequencesFollowTheTargetJointWhateverTheDraft() {
        for (int k : new int[] {2, 4}) {
            long[] stats = new long[3];
            Map<List<Integer>, Long> counts = sample(new TiDarGenerator(), k, stats);
            ChiSquare.Result result = ChiSquare.test(TARGET.joint(), counts);
            System.out.printf("tidar k=%d: %s; drafted %d, accepted %d, forwards %d%n", k, result, stats[0],
                    stats[1], stats[2]);
            ChiSquare.assertConsistent(result, ALPHA);
            // Both outcomes of the acceptance test happened many times (the residual path was exercised) ...
            assertThat(stats[1]).isGreaterThan(10_000);
            assertThat(stats[0] - stats[1]).isGreaterThan(10_000);
            // ... drafting paid off (fewer forwards than tokens), and the draft's own law does not fit the output.
            assertThat(stats[2]).isLessThan(SAMPLES * 4L);
            assertThat(ChiSquare.test(DRAFT.joint(), counts).pValue()).isLessThan(ALPHA);
        }
    }

    /**
     * The exact law of plain sampling with {@link #CHAIN}: every sequence's probability as the product of the
     * processed conditionals of the oracle's AR rows (what the autoregressive generator draws from).
     */
    private static Map<List<Integer>, Double> processedJoint() {
        TiDarOracleBackend model = TiDarOracleBackend.of(TARGET, 64, WRONG_DRAFT);
        Map<List<Integer>, Double> out = new HashMap<>();
        expand(model, new int[] {BOS}, 1.0, out);
        return out;
    }

    private static void expand(TiDarOracleBackend model, int[] history, double mass, Map<List<Integer>, Double> out) {
        float[] logits = model.forward(dev.arbor.api.model.ForwardRequest.builder(new int[][] {history})
                .lastRowOnly().build()).last(0).clone();
        Sampler sampler = new Sampler(CHAIN, TestSelectors.INVERSE_CDF);
        sampler.process(logits, new SamplingContext(history, logits.length, new java.util.SplittableRandom(0)));
        double[] p = TestSelectors.softmax(logits);
        for (int v = 0; v < p.length; v++) {
            if (p[v] == 0) {
                continue;
            }
            List<Integer> seq = Arrays.stream(history, 1, history.length).boxed().toList();
            if (v == BOS) {
                out.merge(seq, mass * p[v], Double::sum);
            } else {
                int[] next = Arrays.copyOf(history, history.length + 1);
                next[history.length] = v;
                expand(model, next, mass * p[v], out);
            }
        }
    }

    @Test
    void aHistoryDependentChainIsAppliedPerPositionToDraftsAndVerification() {
        Map<List<Integer>, Double> expected = processedJoint();
        assertThat(expected.values().stream().mapToDouble(Double::doubleValue).sum()).isCloseTo(1.0,
                org.assertj.core.data.Offset.offset(1e-9));
        long[] stats = new long[3];
        Map<List<Integer>, Long> counts = sample(new TiDarGenerator(), 3, stats,
                () -> new Sampler(CHAIN, TestSelectors.INVERSE_CDF));
        ChiSquare.Result result = ChiSquare.test(expected, counts);
        System.out.printf("tidar k=3, penalty + temperature chain: %s%n", result);
        ChiSquare.assertConsistent(result, ALPHA);
        // The chain changes the law measurably: the unprocessed joint is rejected by the same counts.
        assertThat(ChiSquare.test(TARGET.joint(), counts).pValue()).isLessThan(ALPHA);
    }

    @Test
    void acceptingDraftsWithoutTheRatioTestIsCaught() {
        long[] stats = new long[3];
        Map<List<Integer>, Long> counts = sample(new TiDarGenerator(true), 3, stats);
        ChiSquare.Result result = ChiSquare.test(TARGET.joint(), counts);
        System.out.printf("tidar, drafts accepted without the ratio (power check): %s%n", result);
        assertThat(result.pValue()).isLessThan(ALPHA);
    }
}
