package dev.arbor.models.llama2c;

import static dev.arbor.models.llama2c.Stories260K.argmax;
import static dev.arbor.models.llama2c.Stories260K.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.StateWrite;
import java.util.Arrays;
import java.util.BitSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class Llama2cReferenceModelTest {
    private static final float EXACT = 1e-5f;
    private static Llama2cReferenceModel model;
    /** A fixed 12-token prompt: BOS and the first tokens of the published greedy story. */
    private static final int[] PROMPT = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};

    @BeforeAll
    static void load() {
        model = Llama2cReferenceModel.open(Stories260K.checkpoint());
    }

    @Test
    void greedyFromBosReproducesLlama2cPublishedOutputAndText() {
        int[] expected = Stories260K.expectedIds();
        long start = System.nanoTime();
        int[] generated = new int[expected.length];
        try (DecodeState state = model.newState(1)) {
            int token = 1;
            for (int step = 0; step < expected.length; step++) {
                ForwardResult r = model.forward(ForwardRequest.next(new int[][] {{token}}, state));
                token = argmax(r.last(0));
                generated[step] = token;
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        assertThat(generated).containsExactly(expected);
        assertThat(seconds).as("200 KV-cached steps of stories260K").isLessThan(10.0);

        Llama2cTokenizer tok = Llama2cTokenizer.read(Stories260K.tokenizer(), 512);
        int[] withBos = new int[expected.length + 1];
        withBos[0] = 1;
        System.arraycopy(expected, 0, withBos, 1, expected.length);
        assertThat(tok.decode(withBos)).isEqualTo(Stories260K.expectedText());
    }

    @Test
    void cardDescribesStories260K() {
        var card = model.card();
        assertThat(card.vocabSize()).isEqualTo(512);
        assertThat(card.maxPositions()).isEqualTo(512);
        assertThat(card.hiddenSize()).isEqualTo(64);
        assertThat(card.bosTokenId()).hasValue(1);
        assertThat(card.eosTokenIds()).containsExactly(1);
        assertThat(card.capabilities()).contains(Capability.values());
    }

    @Test
    void cachedLogitsEqualFullRecomputeAtEveryStep() {
        try (DecodeState state = model.newState(1)) {
            for (int t = 0; t < PROMPT.length; t++) {
                float[] cached = model.forward(ForwardRequest.next(new int[][] {{PROMPT[t]}}, state)).last(0);
                float[] full = recomputeLast(Arrays.copyOf(PROMPT, t + 1));
                assertThat(maxAbsDiff(cached, full)).as("step %d", t).isLessThanOrEqualTo(EXACT);
            }
            assertThat(state.length()).isEqualTo(PROMPT.length);
        }
    }

    @Test
    void prefillInOneRequestEqualsTokenByToken() {
        ForwardResult all = model.forward(ForwardRequest.builder(new int[][] {PROMPT}).build());
        assertThat(all.logits()[0]).hasNumberOfRows(PROMPT.length);
        try (DecodeState state = model.newState(1)) {
            for (int t = 0; t < PROMPT.length; t++) {
                float[] step = model.forward(ForwardRequest.next(new int[][] {{PROMPT[t]}}, state)).last(0);
                assertThat(maxAbsDiff(step, all.logits(0, t))).isLessThanOrEqualTo(EXACT);
            }
        }
    }

    @Test
    void logitRowsSelectRowsOfTheFullOutput() {
        ForwardResult all = model.forward(ForwardRequest.builder(new int[][] {PROMPT}).build());
        ForwardResult some = model.forward(ForwardRequest.builder(new int[][] {PROMPT})
                .logitRows(new int[][] {{7, 2}}).wantHidden(true).build());
        assertThat(some.logits()[0]).hasNumberOfRows(2);
        assertThat(some.logits(0, 0)).containsExactly(all.logits(0, 7));
        assertThat(some.logits(0, 1)).containsExactly(all.logits(0, 2));
        assertThat(some.hidden()[0][0]).hasSize(64);
    }

    @Test
    void truncateThenReappendEqualsNeverHavingAppended() {
        int[] a = Arrays.copyOf(PROMPT, 6);
        int[] wrong = {300, 301, 302};
        int[] c = Arrays.copyOfRange(PROMPT, 6, PROMPT.length);
        try (DecodeState rewound = model.newState(1); DecodeState straight = model.newState(1)) {
            model.forward(ForwardRequest.builder(new int[][] {a}).state(rewound).build());
            model.forward(ForwardRequest.builder(new int[][] {wrong}).state(rewound).build());
            rewound.truncate(a.length);
            float[] x = model.forward(ForwardRequest.next(new int[][] {c}, rewound)).last(0);
            model.forward(ForwardRequest.builder(new int[][] {a}).state(straight).build());
            float[] y = model.forward(ForwardRequest.next(new int[][] {c}, straight)).last(0);
            assertThat(x).containsExactly(y);
            assertThat(rewound.length()).isEqualTo(PROMPT.length);
        }
    }

    @Test
    void compactKeepsAPathAndEqualsRecomputeWithItsPositions() {
        try (DecodeState state = model.newState(1)) {
            model.forward(ForwardRequest.builder(new int[][] {Arrays.copyOf(PROMPT, 8)}).state(state).build());
            int[] keep = {0, 1, 3, 6, 7};
            state.compact(keep);
            assertThat(state.length()).isEqualTo(5);
            float[] cached = model.forward(ForwardRequest.builder(new int[][] {{PROMPT[8]}}).state(state)
                    .positions(new int[][] {{8}}).build()).last(0);
            // Kept slots were computed seeing the dropped ones too, so recompute the kept path from the full
            // prefix with an explicit mask: tokens 0..7 causal, token 8 sees only the kept slots and itself.
            BitSet[] vis = new BitSet[9];
            for (int q = 0; q < 8; q++) {
                vis[q] = range(0, q + 1);
            }
            vis[8] = bits(0, 1, 3, 6, 7, 8);
            float[] full = model.forward(ForwardRequest.builder(new int[][] {Arrays.copyOf(PROMPT, 9)})
                    .attention(new AttentionSpec.Explicit(new BitSet[][] {vis})).build()).logits(0, 8);
            assertThat(maxAbsDiff(cached, full)).isLessThanOrEqualTo(EXACT);
            // Sanity: dropping keys changes the result (the test can fail).
            assertThat(maxAbsDiff(cached, recomputeLast(Arrays.copyOf(PROMPT, 9)))).isGreaterThan(1e-3f);
        }
    }

    @Test
    void forkedStatesDivergeIndependently() {
        try (DecodeState base = model.newState(1)) {
            model.forward(ForwardRequest.builder(new int[][] {Arrays.copyOf(PROMPT, 5)}).state(base).build());
            try (DecodeState twin = base.fork()) {
                float[] a = model.forward(ForwardRequest.next(new int[][] {{400, 401}}, base)).last(0);
                float[] b = model.forward(ForwardRequest.next(new int[][] {{PROMPT[5]}}, twin)).last(0);
                assertThat(base.length()).isEqualTo(7);
                assertThat(twin.length()).isEqualTo(6);
                assertThat(maxAbsDiff(a, recomputeLast(concat(Arrays.copyOf(PROMPT, 5), 400, 401))))
                        .isLessThanOrEqualTo(EXACT);
                assertThat(maxAbsDiff(b, recomputeLast(Arrays.copyOf(PROMPT, 6)))).isLessThanOrEqualTo(EXACT);
            }
        }
    }

    @Test
    void selectRowsAndDropRowsRebuildTheBatch() {
        int[][] prompts = {{1, 403, 407}, {1, 300, 301}, {1, 500, 20}};
        try (DecodeState state = model.newState(3)) {
            model.forward(ForwardRequest.builder(prompts).state(state).build());
            state.selectRows(new int[] {2, 0, 0});
            assertThat(state.batchSize()).isEqualTo(3);
            int[][] next = {{5}, {6}, {7}};
            ForwardResult r = model.forward(ForwardRequest.next(next, state));
            assertThat(maxAbsDiff(r.last(0), recomputeLast(concat(prompts[2], 5)))).isLessThanOrEqualTo(EXACT);
            assertThat(maxAbsDiff(r.last(1), recomputeLast(concat(prompts[0], 6)))).isLessThanOrEqualTo(EXACT);
            assertThat(maxAbsDiff(r.last(2), recomputeLast(concat(prompts[0], 7)))).isLessThanOrEqualTo(EXACT);
            state.dropRows(new int[] {1});
            assertThat(state.batchSize()).isEqualTo(2);
            ForwardResult r2 = model.forward(ForwardRequest.next(new int[][] {{9}, {10}}, state));
            assertThat(maxAbsDiff(r2.last(0), recomputeLast(concat(prompts[2], 5, 9)))).isLessThanOrEqualTo(EXACT);
            assertThat(maxAbsDiff(r2.last(1), recomputeLast(concat(prompts[0], 7, 10)))).isLessThanOrEqualTo(EXACT);
        }
    }

    @Test
    void segmentsWhereEveryTokenIsItsOwnSegmentEqualCausal() {
        try (DecodeState s1 = model.newState(1); DecodeState s2 = model.newState(1)) {
            int[] head = Arrays.copyOf(PROMPT, 4);
            int[] tail = Arrays.copyOfRange(PROMPT, 4, 9);
            model.forward(ForwardRequest.builder(new int[][] {head}).state(s1).build());
            model.forward(ForwardRequest.builder(new int[][] {head}).state(s2).build());
            int[] qSeg = new int[tail.length];
            int[] kSeg = new int[head.length + tail.length];
            for (int k = 0; k < kSeg.length; k++) {
                kSeg[k] = k;
            }
            for (int q = 0; q < qSeg.length; q++) {
                qSeg[q] = head.length + q;
            }
            ForwardResult seg = model.forward(ForwardRequest.builder(new int[][] {tail}).state(s1)
                    .attention(new AttentionSpec.Segments(new int[][] {qSeg}, new int[][] {kSeg})).build());
            ForwardResult causal = model.forward(ForwardRequest.builder(new int[][] {tail}).state(s2).build());
            for (int q = 0; q < tail.length; q++) {
                assertThat(seg.logits(0, q)).containsExactly(causal.logits(0, q));
            }
        }
    }

    @Test
    void blockCausalSegmentsEqualTheirExplicitDefinition() {
        int[] tokens = Arrays.copyOf(PROMPT, 9);
        int[] seg = {0, 0, 0, 1, 1, 1, 2, 2, 2};
        BitSet[] vis = new BitSet[tokens.length];
        for (int q = 0; q < tokens.length; q++) {
            vis[q] = new BitSet();
            for (int k = 0; k < tokens.length; k++) {
                if (seg[k] <= seg[q]) {
                    vis[q].set(k);
                }
            }
        }
        ForwardResult a = model.forward(ForwardRequest.builder(new int[][] {tokens})
                .attention(new AttentionSpec.Segments(new int[][] {seg}, new int[][] {seg})).build());
        ForwardResult b = model.forward(ForwardRequest.builder(new int[][] {tokens})
                .attention(new AttentionSpec.Explicit(new BitSet[][] {vis})).build());
        ForwardResult causal = model.forward(ForwardRequest.builder(new int[][] {tokens}).build());
        for (int q = 0; q < tokens.length; q++) {
            assertThat(a.logits(0, q)).containsExactly(b.logits(0, q));
        }
        // The first token of a block sees the rest of its block: unlike causal attention.
        assertThat(maxAbsDiff(a.logits(0, 3), causal.logits(0, 3))).isGreaterThan(1e-3f);
        // In a one-layer model keys depend only on their own token, so the last token of a block, which sees
        // exactly the keys causal attention shows it, gets the causal logits; deeper layers mix in the block.
        Llama2cReferenceModel oneLayer = new Llama2cReferenceModel(model.weights().withLayers(1), "1 layer");
        ForwardResult a1 = oneLayer.forward(ForwardRequest.builder(new int[][] {tokens})
                .attention(new AttentionSpec.Segments(new int[][] {seg}, new int[][] {seg})).build());
        ForwardResult c1 = oneLayer.forward(ForwardRequest.builder(new int[][] {tokens}).build());
        assertThat(a1.logits(0, 5)).containsExactly(c1.logits(0, 5));
        assertThat(maxAbsDiff(a1.logits(0, 4), c1.logits(0, 4))).isGreaterThan(1e-3f);
    }

    @Test
    void explicitCausalBitsetEqualsCausalAndFullEqualsAllBits() {
        int[] tokens = Arrays.copyOf(PROMPT, 7);
        BitSet[] causalBits = new BitSet[tokens.length];
        BitSet[] allBits = new BitSet[tokens.length];
        for (int q = 0; q < tokens.length; q++) {
            causalBits[q] = range(0, q + 1);
            allBits[q] = range(0, tokens.length);
        }
        ForwardResult causal = model.forward(ForwardRequest.builder(new int[][] {tokens}).build());
        ForwardResult explicit = model.forward(ForwardRequest.builder(new int[][] {tokens})
                .attention(new AttentionSpec.Explicit(new BitSet[][] {causalBits})).build());
        ForwardResult full = model.forward(ForwardRequest.builder(new int[][] {tokens})
                .attention(AttentionSpec.FULL).build());
        ForwardResult allExplicit = model.forward(ForwardRequest.builder(new int[][] {tokens})
                .attention(new AttentionSpec.Explicit(new BitSet[][] {allBits})).build());
        for (int q = 0; q < tokens.length; q++) {
            assertThat(explicit.logits(0, q)).containsExactly(causal.logits(0, q));
            assertThat(full.logits(0, q)).containsExactly(allExplicit.logits(0, q));
        }
        assertThat(maxAbsDiff(full.logits(0, 0), causal.logits(0, 0))).isGreaterThan(1e-3f);
        // One layer: the last query sees every key under both specs, and keys depend only on their own token.
        Llama2cReferenceModel oneLayer = new Llama2cReferenceModel(model.weights().withLayers(1), "1 layer");
        float[] full1 = oneLayer.forward(ForwardRequest.builder(new int[][] {tokens}).attention(AttentionSpec.FULL)
                .lastRowOnly().build()).last(0);
        float[] causal1 = oneLayer.forward(ForwardRequest.builder(new int[][] {tokens}).lastRowOnly().build()).last(0);
        assertThat(full1).containsExactly(causal1);
    }

    @Test
    void fullOnAOneTokenQueryEqualsCausal() {
        try (DecodeState s1 = model.newState(1); DecodeState s2 = model.newState(1)) {
            model.forward(ForwardRequest.builder(new int[][] {Arrays.copyOf(PROMPT, 6)}).state(s1).build());
            model.forward(ForwardRequest.builder(new int[][] {Arrays.copyOf(PROMPT, 6)}).state(s2).build());
            float[] full = model.forward(ForwardRequest.builder(new int[][] {{PROMPT[6]}}).state(s1)
                    .attention(AttentionSpec.FULL).build()).last(0);
            float[] causal = model.forward(ForwardRequest.next(new int[][] {{PROMPT[6]}}, s2)).last(0);
            assertThat(full).containsExactly(causal);
        }
    }

    @Test
    void treeMaskEqualsRunningEachRootToLeafPathSeparately() {
        int[] prefix = Arrays.copyOf(PROMPT, 5);
        // Tree under the prefix: n0 -> {n1 -> n3, n2}; nodes in order n0, n1, n2, n3.
        int[] nodes = {432, 383, 290, 286};
        int[] parent = {-1, 0, 0, 1};
        int[] depth = {0, 1, 1, 2};
        int s = prefix.length;
        BitSet[] vis = new BitSet[nodes.length];
        int[] positions = new int[nodes.length];
        for (int q = 0; q < nodes.length; q++) {
            vis[q] = range(0, s);
            for (int a = q; a >= 0; a = parent[a]) {
                vis[q].set(s + a);
            }
            positions[q] = s + depth[q];
        }
        try (DecodeState state = model.newState(1)) {
            model.forward(ForwardRequest.builder(new int[][] {prefix}).state(state).build());
            ForwardResult tree = model.forward(ForwardRequest.builder(new int[][] {nodes}).state(state)
                    .positions(new int[][] {positions}).attention(new AttentionSpec.Explicit(new BitSet[][] {vis}))
                    .build());
            assertThat(state.length()).isEqualTo(s + nodes.length);
            int[][] paths = {{0}, {0, 1}, {0, 2}, {0, 1, 3}};
            for (int[] path : paths) {
                int[] seq = Arrays.copyOf(prefix, s + path.length);
                for (int i = 0; i < path.length; i++) {
                    seq[s + i] = nodes[path[i]];
                }
                int leaf = path[path.length - 1];
                assertThat(maxAbsDiff(tree.logits(0, leaf), recomputeLast(seq))).as("node %d", leaf)
                        .isLessThanOrEqualTo(EXACT);
            }
            // Accept the path n0, n1, n3: compact it and continue; equals the plain causal path.
            state.compact(concat(range(0, s).stream().toArray(), s, s + 1, s + 3));
            float[] next = model.forward(ForwardRequest.next(new int[][] {{290}}, state)).last(0);
            assertThat(maxAbsDiff(next, recomputeLast(concat(prefix, nodes[0], nodes[1], nodes[3], 290))))
                    .isLessThanOrEqualTo(EXACT);
        }
    }

    @Test
    void leftPaddedRowEqualsTheUnpaddedRowAlone() {
        int[] shortRow = {1, 403, 407};
        int[] longRow = {1, 300, 301, 302, 303};
        int[][] tokens = {{0, 0, 1, 403, 407}, longRow};
        boolean[][] valid = {{false, false, true, true, true}, {true, true, true, true, true}};
        try (DecodeState state = model.newState(2)) {
            ForwardResult r = model.forward(ForwardRequest.builder(tokens).state(state).lastRowOnly()
                    .attention(new AttentionSpec.WithPadding(AttentionSpec.CAUSAL, valid)).build());
            assertThat(maxAbsDiff(r.last(0), recomputeLast(shortRow))).isLessThanOrEqualTo(EXACT);
            assertThat(maxAbsDiff(r.last(1), recomputeLast(longRow))).isLessThanOrEqualTo(EXACT);
            // Default positions count only valid tokens, and the state remembers the padding slots.
            ForwardResult r2 = model.forward(ForwardRequest.next(new int[][] {{261}, {304}}, state));
            assertThat(maxAbsDiff(r2.last(0), recomputeLast(concat(shortRow, 261)))).isLessThanOrEqualTo(EXACT);
            assertThat(maxAbsDiff(r2.last(1), recomputeLast(concat(longRow, 304)))).isLessThanOrEqualTo(EXACT);
        }
    }

    @Test
    void writeAtSlotsOverwritesAndLaterQueriesSeeTheNewEntry() {
        int[] base = Arrays.copyOf(PROMPT, 5);
        try (DecodeState state = model.newState(1)) {
            model.forward(ForwardRequest.builder(new int[][] {base}).state(state).build());
            // Re-decode slot 3 with another token at position 3 (sub-block re-decoding): it sees slots 0..4.
            model.forward(ForwardRequest.builder(new int[][] {{290}}).state(state).positions(new int[][] {{3}})
                    .attention(AttentionSpec.FULL).write(new StateWrite.At(new int[] {3})).build());
            assertThat(state.length()).isEqualTo(5);
            float[] cached = model.forward(ForwardRequest.next(new int[][] {{261}}, state)).last(0);
            // Reference: the original five tokens, the new token at position 3 seeing all five and itself, then
            // the query seeing slots 0,1,2,4 (the original slot 3 is replaced) plus the new token and itself.
            int[] tokens = concat(base, 290, 261);
            BitSet[] vis = new BitSet[7];
            for (int q = 0; q < 5; q++) {
                vis[q] = range(0, q + 1);
            }
            vis[5] = range(0, 6);
            vis[6] = bits(0, 1, 2, 4, 5, 6);
            float[] full = model.forward(ForwardRequest.builder(new int[][] {tokens})
                    .positions(new int[][] {{0, 1, 2, 3, 4, 3, 5}})
                    .attention(new AttentionSpec.Explicit(new BitSet[][] {vis})).build()).logits(0, 6);
            // Keys are summed in a different slot order here, so allow float rounding.
            assertThat(maxAbsDiff(cached, full)).isLessThanOrEqualTo(EXACT);
        }
    }

    @Test
    void noneWriteLeavesTheStateUnchanged() {
        try (DecodeState state = model.newState(1)) {
            model.forward(ForwardRequest.builder(new int[][] {Arrays.copyOf(PROMPT, 4)}).state(state).build());
            model.forward(ForwardRequest.builder(new int[][] {{5, 6}}).state(state).write(StateWrite.NONE).build());
            assertThat(state.length()).isEqualTo(4);
            float[] next = model.forward(ForwardRequest.next(new int[][] {{PROMPT[4]}}, state)).last(0);
            assertThat(maxAbsDiff(next, recomputeLast(Arrays.copyOf(PROMPT, 5)))).isLessThanOrEqualTo(EXACT);
        }
    }

    @Test
    void inputEmbeddingsEqualTokenIds() {
        float[][][] emb = new float[1][PROMPT.length][];
        for (int i = 0; i < PROMPT.length; i++) {
            emb[0][i] = model.embedding(PROMPT[i]);
        }
        ForwardResult a = model.forward(ForwardRequest.builderForEmbeddings(emb).build());
        ForwardResult b = model.forward(ForwardRequest.builder(new int[][] {PROMPT}).build());
        assertThat(a.logits(0, PROMPT.length - 1)).containsExactly(b.logits(0, PROMPT.length - 1));
    }

    @Test
    void randomGqaAndUnsharedModelIsConsistentBetweenCacheAndRecompute() {
        Llama2cConfig cfg = new Llama2cConfig(32, 48, 3, 4, 2, 50, 64, false);
        Llama2cReferenceModel m = new Llama2cReferenceModel(Llama2cCheckpoint.random(cfg, 7), "random");
        int[] tokens = {1, 7, 9, 22, 3, 49, 0, 13};
        try (DecodeState state = m.newState(1)) {
            for (int t = 0; t < tokens.length; t++) {
                float[] cached = m.forward(ForwardRequest.next(new int[][] {{tokens[t]}}, state)).last(0);
                float[] full = m.forward(ForwardRequest.builder(new int[][] {Arrays.copyOf(tokens, t + 1)})
                        .lastRowOnly().build()).last(0);
                assertThat(cached).containsExactly(full);
            }
        }
        assertThat(Llama2cCheckpoint.random(cfg, 7).wq(1)).containsExactly(Llama2cCheckpoint.random(cfg, 7).wq(1));
    }

    @Test
    void invalidRequestsNameTheProblem() {
        assertThatThrownBy(() -> model.forward(ForwardRequest.builder(new int[][] {{512}}).build()))
                .isInstanceOf(ArborException.class).hasMessageContaining("token id 512");
        assertThatThrownBy(() -> model.forward(ForwardRequest.builder(new int[][] {{1}})
                .positions(new int[][] {{512}}).build()))
                .isInstanceOf(ArborException.class).hasMessageContaining("position 512");
        try (DecodeState state = model.newState(2)) {
            assertThatThrownBy(() -> model.forward(ForwardRequest.next(new int[][] {{1}}, state)))
                    .isInstanceOf(ArborException.class).hasMessageContaining("holds 2");
            assertThatThrownBy(() -> state.truncate(3)).isInstanceOf(ArborException.class);
        }
    }

    private static float[] recomputeLast(int[] tokens) {
        return model.forward(ForwardRequest.builder(new int[][] {tokens}).lastRowOnly().build()).last(0);
    }

    private static int[] concat(int[] a, int... b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static BitSet range(int from, int to) {
        BitSet b = new BitSet();
        b.set(from, to);
        return b;
    }

    private static BitSet bits(int... set) {
        BitSet b = new BitSet();
        for (int i : set) {
            b.set(i);
        }
        return b;
    }
}
