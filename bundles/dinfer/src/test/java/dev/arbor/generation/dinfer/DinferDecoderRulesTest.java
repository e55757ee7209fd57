package dev.arbor.generation.dinfer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.arbor.api.model.LogitAlignment;
import dev.arbor.diffusion.ConfidenceMetric;
import dev.arbor.diffusion.DiffusionModel;
import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.TokenProposer;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import dev.arbor.testkit.TestContexts;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The threshold and credit decoders on hand-built logit rows, with every expected number worked out in the comments
 * (METHODS.md §3.5). The toy's vocabulary has 5 ids: symbols 0, 1, 2, MASK = 3, boundary 4. Greedy selection, max-prob
 * confidence on the unprocessed softmax.
 */
class DinferDecoderRulesTest {
    private static final double EPS = 1e-5;
    private final EnumeratedJointMaskedBackend toy = EnumeratedJointMaskedBackend.random(3, 6, 2, LogitAlignment.SAME);

    private TokenProposer proposer() {
        return new TokenProposer(TestContexts.context(toy, new int[] {4}, 6, TestContexts.greedy(), new int[0], 1,
                Map.of()), DiffusionModel.of(toy, "test"), ConfidenceMetric.MAX_PROBABILITY);
    }

    /** Logits whose softmax is {@code p} (a zero probability becomes -inf). */
    private static float[] logits(double... p) {
        float[] row = new float[p.length];
        for (int i = 0; i < p.length; i++) {
            row[i] = p[i] == 0 ? Float.NEGATIVE_INFINITY : (float) Math.log(p[i]);
        }
        return row;
    }

    /**
     * Credit fusion over three forwards of one position, alpha 0.7, gamma 0.2, beta 0.8 (dInfer's defaults), threshold
     * 0 so the decoder returns its proposal whatever the confidence. Fusing multiplies each probability by
     * (1 + C)^alpha and renormalises.
     * <pre>
     * forward 0, p = (0.5, 0.2, 0.2, 0, 0.1): top-1 is id 0 with 0.5
     *   C[0] = 0.5^0.2 = 0.870551                                   (no decay on the first forward)
     *   (1 + C[0])^0.7 = 1.870551^0.7 = 1.550167
     *   fused p(0) = 0.5 * 1.550167 / (0.5 * 1.550167 + 0.5) = 0.775084 / 1.275084 = 0.607869
     * forward 1, same p:
     *   C[0] = 0.8 * 0.870551 + 0.870551 = 1.566991                 (decay, then the boost)
     *   1 + C[0] = 2.566991, ^0.7 = 1.934626
     *   fused p(0) = 0.967313 / 1.467313 = 0.659241
     * forward 2, p = (0.2, 0.6, 0.1, 0, 0.1): top-1 is now id 1 with 0.6
     *   C[0] = 0.8 * 1.566991 = 1.253593                            (decayed, no boost: not the top-1 now)
     *   C[1] = 0.6^0.2 = 0.902880
     *   weights: id 0: 0.2 * 2.253593^0.7 = 0.2 * 1.766090 = 0.353218; id 1: 0.6 * 1.902880^0.7 = 0.6 * 1.568874
     *            = 0.941324; ids 2, 4: 0.1 each; total 1.494542
     *   argmax id 1, fused p(1) = 0.941324 / 1.494542 = 0.629841
     * </pre>
     * Without the decay (beta = 1) forward 1 would give 0.669484; without the exponent (gamma = 1) forward 0 would give
     * 0.570484: both differ from the pinned values by more than 0.01.
     */
    @Test
    void creditDecaysByBetaAndBoostsByTopProbabilityToTheGamma() {
        CreditDecoder decoder = new CreditDecoder(proposer(), 0.0, 0.7, 0.2, 0.8);
        int[] positions = {1};
        float[] a = logits(0.5, 0.2, 0.2, 0, 0.1);
        Proposal first = only(decoder.decode(0, positions, new float[][] {a}));
        assertEquals(0, first.token());
        assertEquals(0.607869, first.confidence(), EPS);
        Proposal second = only(decoder.decode(1, positions, new float[][] {a}));
        assertEquals(0, second.token());
        assertEquals(0.659241, second.confidence(), EPS);
        Proposal third = only(decoder.decode(2, positions, new float[][] {logits(0.2, 0.6, 0.1, 0, 0.1)}));
        assertEquals(1, third.token());
        assertEquals(0.629841, third.confidence(), EPS);
        // and the decayed credit of id 0 is still in the fused row: p(0) = 0.353218 / 1.494542 = 0.236339
        decoder.blockDone();
        Proposal fresh = only(decoder.decode(0, positions, new float[][] {a}));
        assertEquals(0.607869, fresh.confidence(), EPS, "blockDone clears the credits");
    }

    /**
     * The credit changes what the threshold commits: threshold 0.63; position 1 has p = (0.5, 0.2, 0.2, 0, 0.1),
     * position 2 p' = (0.48, 0.22, 0.2, 0, 0.1), position 3 q = (0.05, 0.9, 0.02, 0, 0.03).
     * <pre>
     * forward 0: position 1 fused p(0) = 0.607869 (as above);
     *            position 2: C[0] = 0.48^0.2 = 0.863472, 1.863472^0.7 = 1.546059,
     *                        fused p'(0) = 0.48 * 1.546059 / (0.742108 + 0.52) = 0.587991;
     *            position 3: C[1] = 0.9^0.2 = 0.979148, 1.979148^0.7 = 1.612630,
     *                        fused q(1) = 1.451367 / (1.451367 + 0.1) = 0.935541
     *            -> only position 3 reaches 0.63
     * forward 1: position 1 at 0.659241; position 2: C[0] = 1.8 * 0.863472 = 1.554250, 2.554250^0.7 = 1.927899,
     *            fused p'(0) = 0.925392 / (0.925392 + 0.52) = 0.640236 -> both reach 0.63, both committed
     * </pre>
     * Plain threshold decoding (alpha 0) on the same rows commits only position 1: its 0.5 is the maximum, the
     * threshold drops to 0.5 - 1e-5 and 0.48 stays below it.
     */
    @Test
    void creditLiftsRepeatedPredictionsOverTheThreshold() {
        CreditDecoder decoder = new CreditDecoder(proposer(), 0.63, 0.7, 0.2, 0.8);
        float[] a = logits(0.5, 0.2, 0.2, 0, 0.1);
        float[] b = logits(0.48, 0.22, 0.2, 0, 0.1);
        List<Proposal> first = decoder.decode(0, new int[] {1, 2, 3},
                new float[][] {a, b, logits(0.05, 0.9, 0.02, 0, 0.03)});
        assertEquals(List.of(3), first.stream().map(Proposal::position).toList());
        assertEquals(0.935541, first.get(0).confidence(), EPS);
        List<Proposal> second = decoder.decode(1, new int[] {1, 2}, new float[][] {a, b});
        assertEquals(List.of(1, 2), second.stream().map(Proposal::position).toList());
        assertEquals(0.640236, second.get(1).confidence(), EPS);
        ThresholdDecoder plain = new ThresholdDecoder(proposer(), 0.63);
        assertEquals(List.of(1), plain.decode(1, new int[] {1, 2}, new float[][] {a, b}).stream()
                .map(Proposal::position).toList());
    }

    /**
     * dInfer's {@code rm_mask}: a position whose draw is MASK is left masked in this forward, and confidences count
     * MASK's mass. Threshold 0.3.
     * <pre>
     * position 1: p = (0.45, 0.03, 0.01, 0.5, 0.01): argmax is MASK -> abstains (without MASK it would be id 0 at
     *             0.45 / 0.5 = 0.9 and be committed)
     * position 2: p = (0.1, 0.7, 0.05, 0.1, 0.05): id 1, confidence 0.7 (not 0.7 / 0.9 = 0.777778)
     * </pre>
     */
    @Test
    void aPositionWhoseArgmaxIsMaskIsLeftMasked() {
        for (ParallelDecoder decoder : List.of(new ThresholdDecoder(proposer(), 0.3),
                new CreditDecoder(proposer(), 0.3, 0.0, 0.2, 0.8))) {
            List<Proposal> chosen = decoder.decode(0, new int[] {1, 2}, new float[][] {
                    logits(0.45, 0.03, 0.01, 0.5, 0.01), logits(0.1, 0.7, 0.05, 0.1, 0.05)});
            assertEquals(1, chosen.size(), decoder.getClass().getSimpleName());
            assertEquals(2, chosen.get(0).position());
            assertEquals(1, chosen.get(0).token());
            assertEquals(0.7, chosen.get(0).confidence(), EPS);
        }
    }

    /**
     * Progress when every draw is MASK (where dInfer's greedy loop would repeat the same forward forever): the forward
     * commits exactly one position, the one whose best non-MASK token is the most confident without MASK.
     * <pre>
     * position 1: p = (0.45, 0.03, 0.01, 0.5, 0.01): without MASK id 0 at 0.45 / 0.5 = 0.9
     * position 2: p = (0.2, 0.1, 0.1, 0.6, 0.0):     without MASK id 0 at 0.2 / 0.4 = 0.5
     * </pre>
     */
    @Test
    void whenEveryDrawIsMaskTheMostConfidentRunnerUpIsCommitted() {
        for (ParallelDecoder decoder : List.of(new ThresholdDecoder(proposer(), 0.3),
                new CreditDecoder(proposer(), 0.3, 0.7, 0.2, 0.8))) {
            List<Proposal> chosen = decoder.decode(0, new int[] {1, 2}, new float[][] {
                    logits(0.45, 0.03, 0.01, 0.5, 0.01), logits(0.2, 0.1, 0.1, 0.6, 0.0)});
            assertEquals(1, chosen.size(), decoder.getClass().getSimpleName());
            assertEquals(1, chosen.get(0).position());
            assertEquals(0, chosen.get(0).token());
        }
        ThresholdDecoder decoder = new ThresholdDecoder(proposer(), 0.3);
        assertEquals(0.9, decoder.decode(0, new int[] {1, 2}, new float[][] {logits(0.45, 0.03, 0.01, 0.5, 0.01),
                logits(0.2, 0.1, 0.1, 0.6, 0.0)}).get(0).confidence(), EPS);
    }

    private static Proposal only(List<Proposal> proposals) {
        assertEquals(1, proposals.size());
        return proposals.get(0);
    }
}
