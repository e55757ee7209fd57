package dev.arbor.backend.djl;

import static dev.arbor.backend.djl.DjlTestSupport.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.testkit.SharedModels;
import java.util.BitSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Attention patterns standard exports cannot express, on the djl backend, against a plain reference attention:
 * {@link Llama2cReferenceModel}, the project's pure-Java run.c, which loops over exactly the visible keys of each
 * query (no bias, no mask tensor). Every logit row of every query is compared, with and without a cached prefix.
 */
class AttentionMaskTest {
    private static final double TOL = 1e-4;
    private static ModelBackend djl;
    private static Llama2cReferenceModel reference;

    @BeforeAll
    static void open() {
        djl = DjlTestSupport.stories260k();
        reference = Llama2cReferenceModel.open(SharedModels.require("stories260K/stories260K.bin"));
    }

    @AfterAll
    static void close() {
        if (djl != null) {
            djl.close();
        }
    }

    private static void assertAllRowsAgree(ForwardResult a, ForwardResult b) {
        assertThat(a.logits().length).isEqualTo(b.logits().length);
        for (int r = 0; r < a.logits().length; r++) {
            for (int q = 0; q < a.logits()[r].length; q++) {
                assertThat(maxAbsDiff(a.logits()[r][q], b.logits()[r][q])).as("row %d query %d", r, q)
                        .isLessThanOrEqualTo(TOL);
            }
        }
    }

    private static ForwardResult both(ForwardRequest.Builder request, ModelBackend m) {
        return m.forward(request.build());
    }

    @Test
    void cardListsEveryAttentionSpecAndStateOperation() {
        assertThat(djl.card().capabilities()).contains(Capability.FULL_ATTENTION, Capability.SEGMENT_MASK,
                Capability.EXPLICIT_MASK, Capability.PADDING, Capability.STATE_TRUNCATE, Capability.STATE_COMPACT,
                Capability.STATE_FORK, Capability.STATE_SELECT_ROWS, Capability.BATCH);
        assertThat(djl.card().bosTokenId()).hasValue(1);
    }

    @Test
    void blockCausalSegmentsMatchTheReference() {
        int[][] tokens = {{1, 403, 407, 261, 378, 432}, {1, 300, 301, 302, 303, 304}};
        int[][] seg = {{0, 0, 1, 1, 2, 2}, {0, 1, 1, 1, 2, 2}};
        AttentionSpec spec = new AttentionSpec.Segments(seg, seg);
        assertAllRowsAgree(djl.forward(ForwardRequest.builder(tokens).attention(spec).build()),
                reference.forward(ForwardRequest.builder(tokens).attention(spec).build()));
    }

    @Test
    void segmentsOverACachedPrefixMatchTheReference() {
        int[][] prefix = {{1, 403, 407}};
        int[][] block = {{261, 378, 432, 383}};
        AttentionSpec spec = new AttentionSpec.Segments(new int[][] {{1, 1, 2, 2}},
                new int[][] {{0, 0, 0, 1, 1, 2, 2}});
        try (DecodeState a = djl.newState(1); DecodeState b = reference.newState(1)) {
            djl.forward(ForwardRequest.builder(prefix).state(a).build());
            reference.forward(ForwardRequest.builder(prefix).state(b).build());
            assertAllRowsAgree(djl.forward(ForwardRequest.builder(block).state(a).attention(spec).build()),
                    reference.forward(ForwardRequest.builder(block).state(b).attention(spec).build()));
        }
    }

    @Test
    void explicitTreeMaskMatchesTheReference() {
        // a draft tree after a 2-token prefix: root 403, children 407 and 300, grandchild 261 under 407
        int[][] prefix = {{1, 403}};
        int[][] tree = {{407, 300, 261}};
        BitSet[][] visible = new BitSet[1][3];
        visible[0][0] = bits(0, 1, 2);        // 407 sees the prefix and itself
        visible[0][1] = bits(0, 1, 3);        // 300 sees the prefix and itself, not its sibling
        visible[0][2] = bits(0, 1, 2, 4);     // 261 sees the prefix, its parent 407 and itself
        AttentionSpec spec = new AttentionSpec.Explicit(visible);
        try (DecodeState a = djl.newState(1); DecodeState b = reference.newState(1)) {
            djl.forward(ForwardRequest.builder(prefix).state(a).build());
            reference.forward(ForwardRequest.builder(prefix).state(b).build());
            ForwardResult got = djl.forward(ForwardRequest.builder(tree).state(a).attention(spec).build());
            assertAllRowsAgree(got, reference.forward(ForwardRequest.builder(tree).state(b).attention(spec).build()));
            // and the tree branch equals plain causal decoding of its path: 1 403 407 261 at positions 0..3
            float[] path = djl.forward(ForwardRequest.builder(new int[][] {{1, 403, 407, 261}}).lastRowOnly().build())
                    .last(0);
            int[][] treePositions = {{2, 2, 3}};
            try (DecodeState c = djl.newState(1)) {
                djl.forward(ForwardRequest.builder(prefix).state(c).build());
                float[] viaTree = djl.forward(ForwardRequest.builder(tree).state(c).attention(spec)
                        .positions(treePositions).build()).logits()[0][2];
                assertThat(maxAbsDiff(viaTree, path)).isLessThanOrEqualTo(TOL);
            }
        }
    }

    @Test
    void fullAttentionAndLeftPaddingMatchTheReference() {
        int[][] tokens = {{1, 403, 407, 261}, {0, 0, 1, 300}};
        boolean[][] valid = {{true, true, true, true}, {false, false, true, true}};
        for (AttentionSpec base : new AttentionSpec[] {AttentionSpec.FULL, AttentionSpec.CAUSAL}) {
            AttentionSpec spec = new AttentionSpec.WithPadding(base, valid);
            ForwardResult got = djl.forward(ForwardRequest.builder(tokens).attention(spec).build());
            ForwardResult want = reference.forward(ForwardRequest.builder(tokens).attention(spec).build());
            for (int q = 0; q < 4; q++) {
                assertThat(maxAbsDiff(got.logits()[0][q], want.logits()[0][q])).isLessThanOrEqualTo(TOL);
            }
            for (int q = 2; q < 4; q++) { // padding queries' logits are meaningless by contract
                assertThat(maxAbsDiff(got.logits()[1][q], want.logits()[1][q])).isLessThanOrEqualTo(TOL);
            }
        }
    }

    @Test
    void malformedMasksAreRefusedNamingTheField() {
        assertThatThrownBy(() -> djl.forward(ForwardRequest.builder(new int[][] {{1, 2}})
                .attention(new AttentionSpec.Segments(new int[][] {{0, 0}}, new int[][] {{0}})).build()))
                .isInstanceOf(ArborException.class).hasMessageContaining("keySegment[0] has 1 entries, expected 2");
    }

    private static BitSet bits(int... set) {
        BitSet b = new BitSet();
        for (int i : set) {
            b.set(i);
        }
        return b;
    }
}
