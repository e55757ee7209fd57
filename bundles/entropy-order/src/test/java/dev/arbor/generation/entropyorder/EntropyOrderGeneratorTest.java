package dev.arbor.generation.entropyorder;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import dev.arbor.testkit.RecordingSink;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EntropyOrderGeneratorTest {
    private static final double ALPHA = ChiSquare.bonferroni(0.001, 3);
    private final EntropyOrderGenerator generator = new EntropyOrderGenerator();

    /**
     * Dream's schedule: counts sum to L for every (L, S); with S = L every step but the first (0) and the last (2)
     * decodes exactly one token (see {@link DreamTimeSchedule} on why METHODS.md's "one per step" is off by that).
     */
    @Test
    void dreamScheduleSumsToTheLength() {
        DreamTimeSchedule dream = new DreamTimeSchedule(DreamTimeSchedule.DEFAULT_EPS);
        for (int length = 1; length <= 300; length++) {
            for (int steps = 1; steps <= length; steps += Math.max(1, length / 7)) {
                int[] counts = dream.counts(length, steps);
                assertEquals(length, Arrays.stream(counts).sum(), "L=" + length + " S=" + steps);
                assertTrue(Arrays.stream(counts).allMatch(c -> c >= 0));
            }
            if (length >= 3) {
                int[] perToken = dream.counts(length, length);
                assertEquals(0, perToken[0], "L=" + length);
                assertEquals(2, perToken[length - 1], "L=" + length);
                for (int s = 1; s < length - 1; s++) {
                    assertEquals(1, perToken[s], "L=" + length + " step " + s);
                }
            }
        }
        // by hand, t = 1, 0.75025, 0.5005, 0.25075, 0.001: floor(64 * 0.24975) = 15, floor(49 * 0.33289) = 16,
        // floor(33 * 0.49900) = 16, then the remaining 17
        assertArrayEquals(new int[] {15, 16, 16, 17}, dream.counts(64, 4));
    }

    /** METHODS.md §3.8 test (2): positions whose entropy grows left to right are decoded left to right. */
    @Test
    void increasingEntropyIsDecodedLeftToRight() {
        for (LogitAlignment alignment : LogitAlignment.values()) {
            EnumeratedJointMaskedBackend model = independent(new double[][] {{0.9, 0.05, 0.05}, {0.7, 0.2, 0.1},
                    {0.5, 0.3, 0.2}, {0.4, 0.35, 0.25}}, alignment);
            RecordingSink sink = new RecordingSink();
            GenerationResult r = generator.generate(TestContexts.context(model, new int[] {model.boundaryToken()}, 4,
                    TestContexts.greedy(), new int[0], 1, Map.of()), sink);
            assertEquals(3, r.forwardPasses(), "S = L = 4: counts 0, 1, 1, 2, the empty step makes no forward");
            assertEquals(List.of(List.of(0), List.of(0, 1), List.of(0, 1, 2, 3)), decodedSets(sink, model));
        }
    }

    /**
     * METHODS.md §3.8 test (4): the metric decides the order. Position 1 has the higher top probability (0.6 vs
     * 0.55) but the higher entropy (0.95 vs 0.69 nats): entropy order decodes position 2 first, max_prob (Dream's
     * maskgit_plus) position 1 first.
     */
    @Test
    void theConfidenceMetricDecidesTheOrder() {
        EnumeratedJointMaskedBackend model = independent(new double[][] {{0.6, 0.2, 0.2}, {0.55, 0.45, 0},
                {0.34, 0.33, 0.33}, {0.4, 0.3, 0.3}});
        RecordingSink entropy = new RecordingSink();
        generator.generate(TestContexts.context(model, new int[] {model.boundaryToken()}, 4, TestContexts.greedy(),
                new int[0], 1, Map.of()), entropy);
        RecordingSink maxProb = new RecordingSink();
        generator.generate(TestContexts.context(model, new int[] {model.boundaryToken()}, 4, TestContexts.greedy(),
                new int[0], 1, Map.of("confidence", "max_prob")), maxProb);
        assertEquals(List.of(List.of(1), List.of(0, 1), List.of(0, 1, 2, 3)), decodedSets(entropy, model));
        assertEquals(List.of(List.of(0), List.of(0, 1), List.of(0, 1, 2, 3)), decodedSets(maxProb, model));
    }

    /**
     * The position temperature: the first step decodes one position, drawn with probability softmax(-H_i /
     * alg_temp) over the masked positions. Chi-square of 4000 requests against that law at alg_temp 0.3, and against
     * uniform for a huge alg_temp (METHODS.md §3.8 test (3)); the power check: alg_temp 0 (most certain first) is
     * rejected as uniform.
     */
    @Test
    void positionTemperatureDrawsTheFirstPositionFromSoftmaxOfConfidence() {
        double[][] marginals = {{0.9, 0.05, 0.05}, {0.7, 0.2, 0.1}, {0.5, 0.3, 0.2}, {0.4, 0.35, 0.25}};
        EnumeratedJointMaskedBackend model = independent(marginals);
        double temperature = 0.3;
        double[] expected = new double[4];
        double total = 0;
        for (int i = 0; i < 4; i++) {
            double negEntropy = 0;
            for (double p : marginals[i]) {
                negEntropy += p * Math.log(p);
            }
            expected[i] = Math.exp(negEntropy / temperature);
            total += expected[i];
        }
        for (int i = 0; i < 4; i++) {
            expected[i] /= total;
        }
        double[] uniform = {0.25, 0.25, 0.25, 0.25};
        ChiSquare.assertConsistent(ChiSquare.test(expected, firstPositions(model, temperature)), ALPHA);
        ChiSquare.assertConsistent(ChiSquare.test(uniform, firstPositions(model, 1e9)), ALPHA);
        ChiSquare.Result greedyOrder = ChiSquare.test(uniform, firstPositions(model, 0));
        assertFalse(greedyOrder.accepts(ALPHA), "alg_temp 0 must not look uniform, p=" + greedyOrder.pValue());
    }

    private long[] firstPositions(EnumeratedJointMaskedBackend model, double algTemp) {
        long[] counts = new long[4];
        for (int i = 0; i < 4000; i++) {
            RecordingSink sink = new RecordingSink();
            generator.generate(TestContexts.context(model, new int[] {model.boundaryToken()}, 4, TestContexts.greedy(),
                    new int[0], 7919L * i + 1, Map.of("alg_temp", algTemp)), sink);
            List<Integer> first = decodedSets(sink, model).get(0);
            assertEquals(1, first.size());
            counts[first.get(0)]++;
        }
        return counts;
    }

    /** Weights that underflow to 0 (a tiny alg_temp) still yield count distinct positions, most confident first. */
    @Test
    void positionTemperatureSurvivesUnderflow() {
        PositionTemperature policy = new PositionTemperature(1e-3);
        List<dev.arbor.diffusion.Proposal> proposals = List.of(new dev.arbor.diffusion.Proposal(5, 0, -1e6, 0.1, null),
                new dev.arbor.diffusion.Proposal(6, 0, 0, 0.9, null), new dev.arbor.diffusion.Proposal(7, 0, -2e6, 0.1,
                null));
        dev.arbor.diffusion.StepView view = new dev.arbor.diffusion.StepView(null, 5, 8, 0, 1, 0,
                new java.util.SplittableRandom(3));
        assertEquals(List.of(6, 5, 7), policy.choose(view, proposals, 3).stream()
                .map(dev.arbor.diffusion.Proposal::position).toList());
    }

    @Test
    void refusesACausalModelNamingBothParts() {
        EnumeratedJointBackend causal = EnumeratedJointBackend.random(3, 3, 1);
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestContexts.context(causal,
                new int[] {3}, 3, TestContexts.greedy(), new int[0], 1, Map.of()), TokenSink.DISCARD));
        assertEquals(ArborException.Kind.INCOMPATIBLE, e.kind());
        assertTrue(e.getMessage().contains(EntropyOrderGenerator.NAME) && e.getMessage().contains(causal.card().name()),
                e.getMessage());
    }

    @Test
    void refusesBadOptionsWithActionableMessages() {
        EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 4, 1, LogitAlignment.SAME);
        assertRefused(model, Map.of("alg_temp", -1), "'alg_temp' must be between 0.0");
        assertRefused(model, Map.of("eps", 1.5), "'eps' must be between");
        assertRefused(model, Map.of("eps", 0), "'eps' must be between");
        assertRefused(model, Map.of("confidence", "entropy"), "max_prob, margin or neg_entropy");
        assertRefused(model, Map.of("steps", "many"), "'steps' must be an integer");
    }

    private void assertRefused(ModelBackend model, Map<String, Object> options, String expected) {
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestContexts.context(model,
                new int[] {model.card().bosTokenId().getAsInt()}, 4, TestContexts.greedy(), new int[0], 1, options),
                TokenSink.DISCARD));
        assertTrue(e.getMessage().contains(expected), options + ": " + e.getMessage());
    }

    /** A model whose positions are independent with the given marginals (so confidences never change). */
    static EnumeratedJointMaskedBackend independent(double[][] marginals) {
        return independent(marginals, LogitAlignment.SAME);
    }

    static EnumeratedJointMaskedBackend independent(double[][] marginals, LogitAlignment alignment) {
        int n = marginals.length;
        int symbols = marginals[0].length;
        Map<List<Integer>, Double> joint = new HashMap<>();
        int[] digits = new int[n];
        while (true) {
            double w = 1;
            List<Integer> seq = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                w *= marginals[i][digits[i]];
                seq.add(digits[i]);
            }
            joint.put(seq, w);
            int i = n - 1;
            while (i >= 0 && ++digits[i] == symbols) {
                digits[i--] = 0;
            }
            if (i < 0) {
                return EnumeratedJointMaskedBackend.of(symbols, n, joint, alignment);
            }
        }
    }

    /** For each streamed canvas, the decoded generation-region indices. */
    private static List<List<Integer>> decodedSets(RecordingSink sink, EnumeratedJointMaskedBackend model) {
        List<List<Integer>> out = new ArrayList<>();
        for (RecordingSink.CanvasEvent c : sink.canvases()) {
            List<Integer> decoded = new ArrayList<>();
            for (int i = 0; i < c.tokens().length; i++) {
                if (c.tokens()[i] != model.maskToken()) {
                    decoded.add(i);
                }
            }
            out.add(decoded);
        }
        return out;
    }
}
