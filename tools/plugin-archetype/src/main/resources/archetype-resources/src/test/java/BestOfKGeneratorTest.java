package ${package};

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestContexts;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The generator on the test kit's toy backends: against a hand-rolled greedy loop, against its own scores, and —
 * exactly — against the law of the most probable of k samples of an enumerated joint distribution.
 */
class BestOfKGeneratorTest {
    private final BestOfKGenerator generator = new BestOfKGenerator();

    @Test
    void underGreedyDecodingEveryCandidateIsTheGreedyText() {
        ToyCausalBackend model = ToyCausalBackend.builder().vocabSize(16).maxPositions(64).seed(11).build();
        int[] prompt = {1, 2};
        // the reference: argmax of the toy model's logits, one token at a time, computed without any generator
        int[] history = prompt;
        int[] expected = new int[12];
        for (int i = 0; i < expected.length; i++) {
            float[] logits = model.logitsFor(history);
            int best = 0;
            for (int v = 1; v < logits.length; v++) {
                if (logits[v] > logits[best]) {
                    best = v;
                }
            }
            expected[i] = best;
            history = Arrays.copyOf(history, history.length + 1);
            history[history.length - 1] = best;
        }
        RecordingSink sink = new RecordingSink();
        GenerationResult result = generator.generate(TestContexts.context(model, prompt, 12, TestContexts.greedy(),
                new int[0], 0L, Map.of(BestOfKGenerator.BEST_OF, 3)), sink);
        assertThat(result.tokens()).containsExactly(expected);
        assertThat(sink.tokens()).containsExactly(expected);
        assertThat(result.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(result.stats()).containsEntry("best_of", 3).containsEntry("chosen", 0);
        assertThat(result.forwardPasses()).isEqualTo(3 * 12);
    }

    @Test
    void answersTheCandidateWithTheHighestLengthNormalisedScore() {
        // EOS id 0 with a bias: candidates end at different lengths, so the normalisation matters
        ToyCausalBackend model = ToyCausalBackend.builder().vocabSize(16).maxPositions(64).seed(5).eos(0, 1.5)
                .build();
        for (double lengthPenalty : new double[] {0.0, 1.0, 2.0}) {
            for (long seed = 0; seed < 20; seed++) {
                GenerationResult result = generator.generate(TestContexts.context(model, new int[] {3}, 20,
                        TestContexts.sampling(), new int[] {0}, seed, Map.of(BestOfKGenerator.BEST_OF, 5,
                                BestOfKGenerator.LENGTH_PENALTY, lengthPenalty)), new RecordingSink());
                @SuppressWarnings("unchecked")
                List<Double> scores = (List<Double>) result.stats().get("scores");
                assertThat(scores).hasSize(5);
                int chosen = (Integer) result.stats().get("chosen");
                assertThat(scores.get(chosen)).isEqualTo(scores.stream().mapToDouble(Double::doubleValue).max()
                        .orElseThrow());
                assertThat(scores.subList(0, chosen)).allSatisfy(s -> assertThat(s).isLessThan(scores.get(chosen)));
                // the answer's own log-probabilities give its score back (plus the stop token's, when it stopped)
                double sum = Arrays.stream(result.logProbs()).sum();
                int len = result.tokens().length;
                if (result.finishReason() == FinishReason.STOP) {
                    double stop = logSoftmax(model, new int[] {3}, result.tokens(), 0);
                    sum += stop;
                    len++;
                }
                assertThat(sum / Math.pow(len, lengthPenalty)).isCloseTo(scores.get(chosen),
                        org.assertj.core.data.Offset.offset(1e-9));
            }
        }
    }

    /**
     * With length_penalty 0 the score is the probability of the whole sequence, EOS included, so the answer is the
     * most probable of k independent samples: if s_1, s_2, ... are the sequences by decreasing probability and F_j
     * the mass of the first j, the answer is s_j with probability (1 - F_{j-1})^k - (1 - F_j)^k. A chi-square test
     * checks 3,000 answers against that law, and against the plain sampling law (k = 1), which it must refuse.
     */
    @Test
    void theAnswerFollowsTheLawOfTheMostProbableOfKSamples() {
        EnumeratedJointBackend model = EnumeratedJointBackend.random(3, 2, 42);
        int k = 3;
        int eos = model.boundaryToken();
        List<List<Integer>> byProbability = new ArrayList<>(model.joint().keySet());
        byProbability.sort((a, b) -> Double.compare(model.joint().get(b), model.joint().get(a)));
        Map<List<Integer>, Double> bestOfK = new LinkedHashMap<>();
        double above = 0;
        for (List<Integer> s : byProbability) {
            double p = model.joint().get(s);
            bestOfK.put(s, Math.pow(1 - above, k) - Math.pow(1 - above - p, k));
            above += p;
        }
        Map<List<Integer>, Long> counts = new HashMap<>();
        for (long seed = 0; seed < 3_000; seed++) {
            GenerationResult result = generator.generate(TestContexts.context(model, new int[] {eos},
                    model.maxLength() + 1, TestContexts.sampling(), new int[] {eos}, seed,
                    Map.of(BestOfKGenerator.BEST_OF, k, BestOfKGenerator.LENGTH_PENALTY, 0.0)), new RecordingSink());
            assertThat(result.finishReason()).isEqualTo(FinishReason.STOP);
            counts.merge(Arrays.stream(result.tokens()).boxed().toList(), 1L, Long::sum);
        }
        ChiSquare.assertConsistent(ChiSquare.test(bestOfK, counts), 0.001);
        assertThat(ChiSquare.test(model.joint(), counts).accepts(0.001))
                .as("the test must tell best-of-%d from plain sampling", k).isFalse();
    }

    @Test
    void refusesBadOptionsNamingThemBeforeAnyForward() {
        AtomicInteger forwards = new AtomicInteger();
        ToyCausalBackend model = ToyCausalBackend.builder().build();
        for (Map<String, Object> bad : List.<Map<String, Object>>of(Map.of("best_of", 0), Map.of("best_of", 17),
                Map.of("best_of", "many"), Map.of("length_penalty", -1), Map.of("length_penalty", "NaN"))) {
            GenerationContext context = new GenerationContext(model, null, new int[] {1}, 4, () -> {
                forwards.incrementAndGet();
                return TestContexts.greedy().get();
            }, new int[0], 0L, Options.of(bad), Cancellation.NEVER);
            assertThatThrownBy(() -> generator.generate(context, new RecordingSink()))
                    .isInstanceOf(ArborException.class)
                    .hasMessageContaining("option '" + bad.keySet().iterator().next() + "'");
        }
        assertThat(forwards.get()).as("no sampling chain was even built").isZero();
    }

    @Test
    void aCancelledRequestStopsAtOnceAndEmitsNothing() {
        ToyCausalBackend model = ToyCausalBackend.builder().vocabSize(16).maxPositions(64).build();
        AtomicInteger checks = new AtomicInteger();
        Cancellation afterTenSteps = () -> checks.incrementAndGet() > 10;
        RecordingSink sink = new RecordingSink();
        GenerationResult result = generator.generate(new GenerationContext(model, null, new int[] {1}, 40,
                TestContexts.sampling(), new int[0], 7L, Options.of(Map.of("best_of", 4)), afterTenSteps), sink);
        assertThat(result.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(result.tokens()).isEmpty();
        assertThat(sink.tokens()).isEmpty();
        assertThat(result.forwardPasses()).isEqualTo(10);
    }

    /** log softmax of the toy model's logits at {@code token} after prompt + generated. */
    private static double logSoftmax(ToyCausalBackend model, int[] prompt, int[] generated, int token) {
        int[] history = Arrays.copyOf(prompt, prompt.length + generated.length);
        System.arraycopy(generated, 0, history, prompt.length, generated.length);
        float[] logits = model.logitsFor(history);
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l - max);
        }
        return (logits[token] - max) - Math.log(sum);
    }
}
