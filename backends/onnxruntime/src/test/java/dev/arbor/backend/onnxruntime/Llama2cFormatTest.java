package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.Gpt2Fixture.argmax;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.assertClose;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.expected;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.ints;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.section;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Format llama2c through the provider (converter + Arbor attention-bias convention): byte-exact greedy output of
 * stories260K, and the attention specs only a bias model supports, each checked against an equivalent formulation.
 */
class Llama2cFormatTest {
    private static final double TOL = 1e-4;
    @TempDir
    static Path cache;
    private static ModelBackend backend;

    @BeforeAll
    static void open() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        backend = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString()))));
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    private static float[] reference(int... seq) {
        return backend.forward(ForwardRequest.builder(new int[][] {seq}).build()).logits()[0][seq.length - 1];
    }

    @Test
    void cardComesFromArborMetadataAndListsBiasCapabilities() {
        assertThat(backend.card().vocabSize()).isEqualTo(512);
        assertThat(backend.card().maxPositions()).isEqualTo(512);
        assertThat(backend.card().bosTokenId()).hasValue(1);
        assertThat(backend.card().capabilities()).contains(Capability.FULL_ATTENTION, Capability.SEGMENT_MASK,
                Capability.EXPLICIT_MASK, Capability.PADDING, Capability.STATE_COMPACT);
    }

    @Test
    void modelCardSidecarGivesDiffusionFactsAndAChangedCardGivesANewConversion(@TempDir Path dir)
            throws java.io.IOException {
        Path checkpoint = java.nio.file.Files.copy(SharedModels.require("stories260K/stories260K.bin"),
                dir.resolve("mdlm.bin"));
        Path card = dir.resolve("mdlm.card.json");
        java.nio.file.Files.writeString(card, "{\"name\": \"toy-mdlm\", \"bos\": 1, \"eos\": [2], \"mask\": 511,"
                + " \"alignment\": \"SAME\", \"attention\": \"BIDIRECTIONAL\", \"samples\": [\"ignored\"]}");
        Options opts = Options.of(Map.of("cache_dir", dir.resolve("cache").toString()));
        try (ModelBackend mdlm = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c", opts))) {
            assertThat(mdlm.card().maskTokenId()).hasValue(511);
            assertThat(mdlm.card().eosTokenIds()).containsExactly(2);
            assertThat(mdlm.card().alignment()).isEqualTo(dev.arbor.api.model.LogitAlignment.SAME);
            assertThat(mdlm.card().nativeAttention()).isEqualTo(dev.arbor.api.model.NativeAttention.BIDIRECTIONAL);
        }
        java.nio.file.Files.writeString(card, "{\"attention\": \"BLOCK_CAUSAL\", \"block_size\": 4, \"mask\": 7}");
        try (ModelBackend bd = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c", opts))) {
            assertThat(bd.card().nativeAttention()).isEqualTo(dev.arbor.api.model.NativeAttention.BLOCK_CAUSAL);
            assertThat(bd.card().blockSize()).isEqualTo(4);
            assertThat(bd.card().maskTokenId()).hasValue(7);
        }
        java.nio.file.Files.writeString(card, "{\"mask\": 512}");
        assertThatThrownBy(() -> new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c", opts)))
                .isInstanceOf(ArborException.class).hasMessageContaining("mask id 512")
                .hasMessageContaining("[0, 512)");
    }

    @Test
    void greedy200StepsFromBosMatchesLlama2c() {
        Map<String, Object> g = section(expected("stories260K"), "greedy");
        int[] want = ints(g.get("generated_ids"));
        int[] got = new int[want.length];
        try (DecodeState state = backend.newState(1)) {
            int next = ints(g.get("prompt_ids"))[0];
            for (int i = 0; i < want.length; i++) {
                next = argmax(backend.forward(ForwardRequest.next(new int[][] {{next}}, state)).last(0));
                got[i] = next;
            }
        }
        assertThat(got).containsExactly(want);
    }

    @Test
    void keepLayersLoadsATruncatedModel() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        try (ModelBackend two = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString(), "keep_layers", 2))))) {
            assertThat(((OnnxDecoderBackend) two).signature().layers).isEqualTo(2);
            float[] l = two.forward(ForwardRequest.builder(new int[][] {{1, 403}}).build()).last(0);
            assertThat(l).hasSize(512);
            assertThat(l).isNotEqualTo(reference(1, 403));
        }
    }

    @Test
    void explicitAndSegmentSpecsThatSpellCausalGiveCausalLogits() {
        int[] seq = {1, 403, 407, 261};
        float[][] causal = backend.forward(ForwardRequest.builder(new int[][] {seq}).build()).logits()[0];
        BitSet[][] bits = new BitSet[1][seq.length];
        for (int q = 0; q < seq.length; q++) {
            bits[0][q] = new BitSet();
            bits[0][q].set(0, q + 1);
        }
        float[][] explicit = backend.forward(ForwardRequest.builder(new int[][] {seq})
                .attention(new AttentionSpec.Explicit(bits)).build()).logits()[0];
        int[][] segs = {{0, 1, 2, 3}};
        float[][] segments = backend.forward(ForwardRequest.builder(new int[][] {seq})
                .attention(new AttentionSpec.Segments(segs, segs)).build()).logits()[0];
        float[][] full = backend.forward(ForwardRequest.builder(new int[][] {seq}).attention(AttentionSpec.FULL)
                .build()).logits()[0];
        for (int t = 0; t < seq.length; t++) {
            assertClose(explicit[t], causal[t], TOL, "explicit row " + t);
            assertClose(segments[t], causal[t], TOL, "segments row " + t);
        }
        // Full attention lets earlier tokens see later ones, so it differs from causal, and it equals Explicit with
        // every bit set.
        assertThat(full[0]).isNotEqualTo(causal[0]);
        BitSet[][] all = new BitSet[1][seq.length];
        for (int q = 0; q < seq.length; q++) {
            all[0][q] = new BitSet();
            all[0][q].set(0, seq.length);
        }
        float[][] explicitAll = backend.forward(ForwardRequest.builder(new int[][] {seq})
                .attention(new AttentionSpec.Explicit(all)).build()).logits()[0];
        for (int t = 0; t < seq.length; t++) {
            assertClose(full[t], explicitAll[t], TOL, "full vs explicit-all row " + t);
        }
    }

    @Test
    void treeBranchesThenCompactEqualsTheAcceptedPath() {
        try (DecodeState state = backend.newState(1)) {
            backend.forward(ForwardRequest.builder(new int[][] {{1, 403}}).state(state).build());
            // Two sibling candidates at position 2: each sees the prefix and itself only.
            BitSet a = new BitSet();
            a.set(0, 2);
            a.set(2);
            BitSet b = new BitSet();
            b.set(0, 2);
            b.set(3);
            float[][] tree = backend.forward(ForwardRequest.builder(new int[][] {{407, 261}})
                    .positions(new int[][] {{2, 2}}).attention(new AttentionSpec.Explicit(new BitSet[][] {{a, b}}))
                    .state(state).build()).logits()[0];
            assertClose(tree[0], reference(1, 403, 407), TOL, "branch 407");
            assertClose(tree[1], reference(1, 403, 261), TOL, "branch 261");
            state.compact(new int[] {0, 1, 3}); // accept the second branch
            float[] next = backend.forward(ForwardRequest.next(new int[][] {{378}}, state)).last(0);
            assertClose(next, reference(1, 403, 261, 378), TOL, "after compact");
        }
    }

    @Test
    void leftPaddingWithBiasGivesEachRowItsOwnLogits() {
        boolean[][] valid = {{true, true, true}, {false, true, true}};
        try (DecodeState state = backend.newState(2)) {
            float[][][] l = backend.forward(ForwardRequest.builder(new int[][] {{1, 403, 407}, {0, 1, 261}})
                    .attention(new AttentionSpec.WithPadding(AttentionSpec.CAUSAL, valid)).state(state)
                    .lastRowOnly().build()).logits();
            assertClose(l[0][0], reference(1, 403, 407), TOL, "full row");
            assertClose(l[1][0], reference(1, 261), TOL, "padded row");
            float[][][] s = backend.forward(ForwardRequest.next(new int[][] {{5}, {6}}, state)).logits();
            assertClose(s[0][0], reference(1, 403, 407, 5), TOL, "full row step");
            assertClose(s[1][0], reference(1, 261, 6), TOL, "padded row step");
        }
    }

    @Test
    void badSegmentShapesAreRefusedWithTheExpectedShape() {
        assertThatThrownBy(() -> backend.forward(ForwardRequest.builder(new int[][] {{1, 2}})
                .attention(new AttentionSpec.Segments(new int[][] {{0, 1}}, new int[][] {{0}})).build()))
                .isInstanceOf(ArborException.class).hasMessageContaining("keySegment[0] has 1 entries, expected 2");
    }
}
