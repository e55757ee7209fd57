package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.Gpt2Fixture.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
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
 * Explicit masks on the fused graph (stories260K): a draft tree verified in one forward, as speculative-tree does,
 * gives the reference graph's logits, and the state then continues alike after compacting to the accepted path; a
 * mask that shows a later key, which GroupQueryAttention's causal kernel cannot honour, is refused naming the key.
 */
class FusedExplicitMaskTest {
    @TempDir
    static Path cache;
    private static ModelBackend fused;
    private static ModelBackend plain;

    private static final int[] PROMPT = {1, 403, 407, 261};
    // tree: 0 = root; 1, 2 children of 0; 3 child of 1; 4 child of 3
    private static final int[] TREE = {378, 300, 290, 415, 264};
    private static final int[] PARENT = {-1, 0, 0, 1, 3};

    @BeforeAll
    static void open() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        fused = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString(), "graph", "fused"))));
        plain = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString()))));
    }

    @AfterAll
    static void close() {
        if (fused != null) {
            fused.close();
        }
        if (plain != null) {
            plain.close();
        }
    }

    private static ForwardResult tree(ModelBackend backend, DecodeState state, BitSet[] visible) {
        int base = state.length();
        int[] positions = new int[TREE.length];
        for (int j = 0; j < TREE.length; j++) {
            positions[j] = PARENT[j] < 0 ? base : positions[PARENT[j]] + 1;
        }
        return backend.forward(ForwardRequest.builder(new int[][] {TREE}).state(state)
                .positions(new int[][] {positions}).attention(new AttentionSpec.Explicit(new BitSet[][] {visible}))
                .build());
    }

    private static BitSet[] treeMask(int base) {
        BitSet[] visible = new BitSet[TREE.length];
        for (int j = 0; j < TREE.length; j++) {
            visible[j] = new BitSet();
            visible[j].set(0, base);
            for (int a = j; a >= 0; a = PARENT[a]) {
                visible[j].set(base + a);
            }
        }
        return visible;
    }

    @Test
    void declaresExplicitMasks() {
        assertThat(fused.card().supports(Capability.EXPLICIT_MASK)).isTrue();
        assertThat(fused.card().supports(Capability.FULL_ATTENTION)).isFalse();
    }

    @Test
    void aDraftTreeGivesTheReferenceLogitsAndTheAcceptedPathContinuesAlike() {
        try (DecodeState f = fused.newState(1); DecodeState p = plain.newState(1)) {
            fused.forward(ForwardRequest.next(new int[][] {PROMPT}, f));
            plain.forward(ForwardRequest.next(new int[][] {PROMPT}, p));
            BitSet[] mask = treeMask(PROMPT.length);
            ForwardResult got = tree(fused, f, mask);
            ForwardResult want = tree(plain, p, mask);
            for (int j = 0; j < TREE.length; j++) {
                assertClose(got.logits()[0][j], want.logits()[0][j], 1e-3, "tree node " + j);
            }
            // accept root -> 1 -> 3 and continue from there
            int[] keep = {0, 1, 2, 3, PROMPT.length, PROMPT.length + 1, PROMPT.length + 3};
            f.compact(keep);
            p.compact(keep);
            int[][] next = {{TREE[4]}};
            float[] a = fused.forward(ForwardRequest.next(next, f)).last(0);
            float[] b = plain.forward(ForwardRequest.next(next, p)).last(0);
            assertClose(a, b, 1e-3, "after compacting to the accepted path");
        }
    }

    @Test
    void aMaskShowingALaterKeyIsRefused() {
        try (DecodeState f = fused.newState(1)) {
            fused.forward(ForwardRequest.next(new int[][] {PROMPT}, f));
            BitSet[] mask = treeMask(PROMPT.length);
            mask[1].set(PROMPT.length + 2);
            assertThatThrownBy(() -> tree(fused, f, mask)).isInstanceOf(ArborException.class)
                    .hasMessageContaining("sees key " + (PROMPT.length + 2))
                    .hasMessageContaining("graph=reference")
                    .satisfies(e -> assertThat(((ArborException) e).kind())
                            .isEqualTo(ArborException.Kind.INCOMPATIBLE));
            assertThat(f.length()).as("a refused forward leaves the state as it was").isEqualTo(PROMPT.length);
        }
    }
}
