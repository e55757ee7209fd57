package dev.arbor.generation.guideddiffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.model.StateWrite;
import dev.arbor.diffusion.Canvas;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.RecordingSink;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Map;
import java.util.OptionalInt;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The guide's acceptance rules and chunked verification on a hand-built guide distribution (METHODS.md §3.9).
 * Ids: symbols 0..3, MASK 4, BOS/EOS 5. The {@link RankedGuide} predicts, for the token at absolute position q,
 * whatever it is fed: symbol {@code (q + r - 1) mod 4} at rank r with probability 0.40, 0.25, 0.20, 0.10 for
 * r = 1..4, EOS 0.05 (rank 5), MASK 0. So at position 1 the ranks are 1, 2, 3, 0; at 2: 2, 3, 0, 1; at 3: 3, 0, 1, 2;
 * at 4: 0, 1, 2, 3; at 5: 1, 2, 3, 0. A row read for the wrong position, or a draft fed at the wrong position, would
 * change every expected count below. The prompt is {BOS}; drafts start at position 1.
 */
class GuideRulesTest {
    private static final double[] BY_RANK = {0.40, 0.25, 0.20, 0.10};
    private static final int MASK = 4;
    private static final int BOS = 5;

    private static int verify(GuideVerifier.Strategy strategy, int topK, double threshold, int batch, int... drafts) {
        RankedGuide guide = new RankedGuide();
        try (GuideVerifier verifier = new GuideVerifier(guide, strategy, topK, threshold, batch,
                new SplittableRandom(1))) {
            return verifier.verify(new Canvas(new int[] {BOS}, 8, MASK), 1, drafts);
        }
    }

    /**
     * topk accepts a draft iff it is among the guide's k best, and stops at the first rejection. Drafts (position:
     * token = rank) 1: 1 = r1, 2: 3 = r2, 3: 0 = r2, 4: 2 = r3, 5: 1 = r1.
     * k = 1: r2 at position 2 is rejected -> 1; k = 2: r3 at position 4 -> 3; k = 3: all 5.
     * EOS is rank 5: k = 4 rejects it, k = 5 accepts it.
     */
    @Test
    void topkAcceptsExactlyTheGuidesKBest() {
        int[] drafts = {1, 3, 0, 2, 1};
        assertEquals(1, verify(GuideVerifier.Strategy.TOP_K, 1, 0, 32, drafts));
        assertEquals(3, verify(GuideVerifier.Strategy.TOP_K, 2, 0, 32, drafts));
        assertEquals(5, verify(GuideVerifier.Strategy.TOP_K, 3, 0, 32, drafts));
        assertEquals(0, verify(GuideVerifier.Strategy.TOP_K, 4, 0, 32, BOS));
        assertEquals(1, verify(GuideVerifier.Strategy.TOP_K, 5, 0, 32, BOS));
    }

    /**
     * dynamic_threshold accepts a draft iff p_guide(draft) > threshold. Drafts 1: 1 (0.40), 2: 3 (0.25), 3: 1 (0.20),
     * 4: 3 (0.10): threshold 0.15 -> 3, 0.22 -> 2, 0.30 -> 1, 0.45 -> 0; and 0.05 -> all 4.
     */
    @Test
    void dynamicThresholdAcceptsExactlyTheDraftsAboveIt() {
        int[] drafts = {1, 3, 1, 3};
        assertEquals(4, verify(GuideVerifier.Strategy.THRESHOLD, 5, 0.05, 32, drafts));
        assertEquals(3, verify(GuideVerifier.Strategy.THRESHOLD, 5, 0.15, 32, drafts));
        assertEquals(2, verify(GuideVerifier.Strategy.THRESHOLD, 5, 0.22, 32, drafts));
        assertEquals(1, verify(GuideVerifier.Strategy.THRESHOLD, 5, 0.30, 32, drafts));
        assertEquals(0, verify(GuideVerifier.Strategy.THRESHOLD, 5, 0.45, 32, drafts));
    }

    /**
     * Chunks of verify_batch_size: the guide's argmax drafts 1, 2, 3, 0, 1 with chunks of 2 are all accepted over 3
     * forwards (2 + 2 + 1 drafts); with the fourth draft wrong (1 instead of 0) verification stops inside the second
     * chunk: 3 accepted, 2 forwards, the third chunk never fed. Then, after committing those 3, the cache is cropped
     * and the next verification at position 4 reads the right rows again.
     */
    @Test
    void verificationGoesOnChunkByChunkWhileEveryDraftIsAccepted() {
        RankedGuide guide = new RankedGuide();
        try (GuideVerifier verifier = new GuideVerifier(guide, GuideVerifier.Strategy.DETERMINISTIC, 5, 0, 2,
                new SplittableRandom(1))) {
            assertEquals(5, verifier.verify(new Canvas(new int[] {BOS}, 8, MASK), 1, new int[] {1, 2, 3, 0, 1}));
            assertEquals(3, verifier.forwardPasses());
            assertEquals(5, verifier.draftsScored());
        }
        guide = new RankedGuide();
        try (GuideVerifier verifier = new GuideVerifier(guide, GuideVerifier.Strategy.DETERMINISTIC, 5, 0, 2,
                new SplittableRandom(1))) {
            Canvas canvas = new Canvas(new int[] {BOS}, 8, MASK);
            assertEquals(3, verifier.verify(canvas, 1, new int[] {1, 2, 3, 1, 1}));
            assertEquals(2, verifier.forwardPasses());
            assertEquals(4, verifier.draftsScored());
            // the guide saw BOS, 1, 2, 3 at positions 0..3 (position 4's draft was never fed)
            assertArrayEquals(new int[] {BOS, 1, 2, 3}, Arrays.copyOf(guide.fed, 4));
            for (int p = 1; p <= 3; p++) {
                canvas.commit(p, p, 0);
            }
            verifier.committed(4);
            assertEquals(3, verifier.verify(canvas, 4, new int[] {0, 1, 2}));
            assertEquals(4, verifier.forwardPasses());
        }
    }

    /**
     * The generator drafts to the block's end and verifies across chunks: an oracle diffusion model drafting the
     * guide's greedy continuation 1, 2, 3, 0, 1, 2 with block 6 and chunks of 2 decodes everything in one step (one
     * diffusion forward, three guide forwards), where one chunk per step would take three steps.
     */
    @Test
    void aStepWithMoreDraftsThanOneChunkAcceptsAcrossChunks() {
        RankedGuide guide = new RankedGuide();
        ModelBackend dlm = new TestModels.OracleDiffusionModel(new int[] {BOS, 1, 2, 3, 0, 1, 2}, 6, MASK, BOS, 16);
        GenerationResult r = new GuidedDiffusionGenerator().generate(TestModels.context(dlm, guide, new int[] {BOS},
                6, TestModels.greedy(), new int[0], 1, Map.of("guide", TestModels.GUIDE, "block_length", 6,
                        "verify_batch_size", 2)), new RecordingSink());
        assertArrayEquals(new int[] {1, 2, 3, 0, 1, 2}, r.tokens());
        assertEquals(1, r.forwardPasses());
        assertEquals(3, r.stats().get("guide_forward_passes"));
        assertEquals(6, r.stats().get("accepted_drafts"));
    }

    /**
     * original accepts each draft with probability p_guide(draft), in order, stopping at the first rejection. Drafts
     * 1: 2 (0.25), 2: 2 (0.40), 3: 1 (0.20), so the number accepted k has
     * P(0) = 0.75, P(1) = 0.25 * 0.60 = 0.15, P(2) = 0.25 * 0.40 * 0.80 = 0.08, P(3) = 0.25 * 0.40 * 0.20 = 0.02.
     * And through the generator (the same drafts from an oracle model, block 3): the first step commits
     * max(1, k) tokens: 1 w.p. 0.90, 2 w.p. 0.08, 3 w.p. 0.02.
     */
    @Test
    void originalAcceptsWithTheGuidesProbability() {
        double alpha = ChiSquare.bonferroni(0.001, 2);
        SplittableRandom random = new SplittableRandom(7);
        long[] accepted = new long[4];
        for (int trial = 0; trial < 20_000; trial++) {
            try (GuideVerifier verifier = new GuideVerifier(new RankedGuide(), GuideVerifier.Strategy.ORIGINAL, 5, 0,
                    32, random)) {
                accepted[verifier.verify(new Canvas(new int[] {BOS}, 8, MASK), 1, new int[] {2, 2, 1})]++;
            }
        }
        ChiSquare.assertConsistent(ChiSquare.test(new double[] {0.75, 0.15, 0.08, 0.02}, accepted), alpha);

        ModelBackend dlm = new TestModels.OracleDiffusionModel(new int[] {BOS, 2, 2, 1}, 6, MASK, BOS, 16);
        GuidedDiffusionGenerator generator = new GuidedDiffusionGenerator();
        long[] firstStep = new long[4];
        for (long seed = 0; seed < 5_000; seed++) {
            RecordingSink sink = new RecordingSink();
            generator.generate(TestModels.context(dlm, new RankedGuide(), new int[] {BOS}, 3, TestModels.greedy(),
                    new int[0], seed, Map.of("guide", TestModels.GUIDE, "block_length", 3, "strategy", "original")),
                    sink);
            firstStep[(int) Arrays.stream(sink.canvases().get(0).tokens()).filter(t -> t != MASK).count()]++;
        }
        ChiSquare.assertConsistent(ChiSquare.test(new double[] {0, 0.90, 0.08, 0.02}, firstStep), alpha);
    }

    /** A causal guide whose row for the token at absolute position q is the rank table above; records what it is fed. */
    static final class RankedGuide implements ModelBackend {
        final int[] fed = new int[64];
        private final ModelCard card = new ModelCard("ranked-guide", 6, 64, 0, OptionalInt.of(BOS), new int[] {BOS},
                OptionalInt.empty(), OptionalInt.empty(), LogitAlignment.NEXT, NativeAttention.CAUSAL, 0,
                EnumSet.of(Capability.STATE_TRUNCATE));

        @Override
        public ModelCard card() {
            return card;
        }

        @Override
        public DecodeState newState(int batchSize) {
            return new Slots();
        }

        @Override
        public ForwardResult forward(ForwardRequest request) {
            int[] tokens = request.tokens()[0];
            Slots state = (Slots) request.state();
            int offset = state == null ? 0 : state.length;
            for (int j = 0; j < tokens.length; j++) {
                fed[offset + j] = tokens[j];
            }
            int[] rows = request.logitRows() == null ? java.util.stream.IntStream.range(0, tokens.length).toArray()
                    : request.logitRows()[0];
            float[][] logits = new float[rows.length][];
            for (int i = 0; i < rows.length; i++) {
                logits[i] = row(offset + rows[i] + 1);
            }
            if (state != null && request.write() instanceof StateWrite.Append) {
                state.length += tokens.length;
            }
            return new ForwardResult(new float[][][] {logits}, null);
        }

        /** Logits of the distribution over the token at position {@code q}. */
        static float[] row(int q) {
            float[] row = new float[6];
            for (int r = 1; r <= 4; r++) {
                row[(q + r - 1) % 4] = (float) Math.log(BY_RANK[r - 1]);
            }
            row[MASK] = Float.NEGATIVE_INFINITY;
            row[BOS] = (float) Math.log(0.05);
            return row;
        }

        @Override
        public void close() {
        }

        private static final class Slots implements DecodeState {
            int length;

            @Override
            public int batchSize() {
                return 1;
            }

            @Override
            public int length() {
                return length;
            }

            @Override
            public void truncate(int newLength) {
                if (newLength < 0 || newLength > length) {
                    throw new IllegalArgumentException("cannot truncate " + length + " to " + newLength);
                }
                length = newLength;
            }

            @Override
            public void close() {
            }
        }
    }
}
