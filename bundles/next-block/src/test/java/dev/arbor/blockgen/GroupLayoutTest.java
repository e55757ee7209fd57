package dev.arbor.blockgen;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.EnumSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The group-parallel sequence: positions, query ids, segments (the mask), targets, steps and the prior checks. */
class GroupLayoutTest {
    /** The Fashion priors' layout: 7x7 = 49 codes of 512, 10 classes, feature dim 16 (540 ids). */
    static final ImageLayout FASHION = ToyImageTokenizer.layout(28, 512, 10, 16, 7);

    /** Visibility of key k from query q under segments s: the backends' Segments rule. */
    static boolean sees(int[] s, int q, int k) {
        return s[k] <= s[q];
    }

    @Test
    void oneTokenGroupsAreCausalRasterDecoding() {
        for (int c : new int[] {1, 7, 49}) {
            GroupLayout g = GroupLayout.of(FASHION, 1, c);
            assertThat(g.vocabSize()).isEqualTo(540);
            assertThat(g.forwards()).isEqualTo(49);
            int[] s = g.segments();
            for (int q = 0; q < 49; q++) {
                for (int k = 0; k < 49; k++) {
                    assertThat(sees(s, q, k)).as("c=%d q=%d k=%d", c, q, k).isEqualTo(k <= q);
                }
            }
            int[] image = IntStream.range(0, 49).map(i -> 100 + i).toArray();
            assertThat(g.input(0, 530, image)).isEqualTo(530);
            for (int p = 1; p < 49; p++) {
                assertThat(g.input(p, 530, image)).isEqualTo(image[p - 1]); // the raster sequence [class, t_0..]
            }
            assertThat(g.steps()).allMatch(st -> st.size() == 1 && st.from() == st.index());
        }
    }

    @Test
    void aCausalRowThenRowGroupsTakeThirteenForwards() {
        GroupLayout g = GroupLayout.of(FASHION, 7, 7);
        assertThat(g.vocabSize()).isEqualTo(546);
        assertThat(g.forwards()).isEqualTo(13);
        assertThat(g.queryToken(1)).isEqualTo(540);
        assertThat(g.queryToken(6)).isEqualTo(545);
        assertThatThrownBy(() -> g.queryToken(7)).isInstanceOf(IllegalArgumentException.class);

        int[] image = IntStream.range(0, 49).map(i -> 200 + i).toArray();
        int[] in = g.inputs(0, 49, 531, image);
        assertThat(in[0]).isEqualTo(531);
        assertThat(java.util.Arrays.copyOfRange(in, 1, 8)).containsExactly(200, 201, 202, 203, 204, 205, 206);
        assertThat(java.util.Arrays.copyOfRange(in, 8, 14)).containsExactly(540, 541, 542, 543, 544, 545);
        for (int p = 14; p < 49; p++) {
            assertThat(in[p]).isEqualTo(image[p - 7]);
        }
        // row p predicts t_p: rows 0..6 the next token, row 7 (t_6's position) and its six queries the second row
        for (int p = 0; p < 49; p++) {
            assertThat(g.target(p)).isEqualTo(p);
        }

        int[] s = g.segments();
        for (int q = 0; q < 49; q++) {
            for (int k = 0; k < 49; k++) {
                boolean expected = q < 7 || k < 7 ? k <= q : (k - 7) / 7 <= (q - 7) / 7;
                assertThat(sees(s, q, k)).as("q=%d k=%d", q, k).isEqualTo(expected);
            }
        }
        // a query token sees the whole first row, the class token and the other queries, nothing of later groups
        assertThat(sees(s, 8, 13)).isTrue();
        assertThat(sees(s, 13, 7)).isTrue();
        assertThat(sees(s, 13, 14)).isFalse();

        List<GroupLayout.Step> steps = g.steps();
        assertThat(steps).hasSize(13);
        assertThat(steps.get(0)).isEqualTo(new GroupLayout.Step(0, 0, 1));
        assertThat(steps.get(6)).isEqualTo(new GroupLayout.Step(6, 6, 7));
        assertThat(steps.get(7)).isEqualTo(new GroupLayout.Step(7, 7, 14));
        assertThat(steps.get(12)).isEqualTo(new GroupLayout.Step(12, 42, 49));
        // every position is fed exactly once
        assertThat(steps.stream().mapToInt(GroupLayout.Step::size).sum()).isEqualTo(49);

        AttentionSpec.Segments spec = g.attention(steps.get(8), 2);
        assertThat(spec.querySegment()).hasNumberOfRows(2);
        assertThat(spec.querySegment()[1]).containsOnly(8).hasSize(7);
        assertThat(spec.keySegment()[0]).containsExactly(java.util.Arrays.copyOf(s, 21));
    }

    @Test
    void forwardsAreOnePlusTheCausalStartPlusTheGroups() {
        // 1 + (c - 1) + (N - c) / G, as METHODS.md §3.16's count (128 tokens, G = 8: 23) on an 8x8 map
        ImageLayout square = ToyImageTokenizer.layout(32, 64, 10, 4, 8);
        assertThat(GroupLayout.of(square, 8, 8).forwards()).isEqualTo(1 + 7 + 7);
        assertThat(GroupLayout.of(square, 8, 16).forwards()).isEqualTo(1 + 15 + 6);
        assertThat(GroupLayout.of(square, 4, 4).forwards()).isEqualTo(1 + 3 + 15);
        assertThat(GroupLayout.of(square, 4, 4).steps()).hasSize(19);
    }

    @Test
    void optionsThatDoNotTileTheImageAreRefusedWithAFix() {
        assertThatThrownBy(() -> GroupLayout.of(FASHION, 7, 5))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("44 tokens after causal_num 5 do not split into groups of block_size 7")
                .hasMessageContaining("e.g. 7");
        assertThatThrownBy(() -> GroupLayout.of(FASHION, 0, 1)).hasMessageContaining("block_size must be between 1 "
                + "and the image's 49 tokens, got 0");
        assertThatThrownBy(() -> GroupLayout.of(FASHION, 7, 50)).hasMessageContaining("causal_num must be between 1 "
                + "and the image's 49 tokens, got 50");
        assertThat(((ArborException) catchArbor(() -> GroupLayout.of(FASHION, 7, 5))).kind())
                .isEqualTo(ArborException.Kind.INVALID_INPUT);
    }

    @Test
    void thePriorMustMatchTheGroups() {
        GroupLayout g = GroupLayout.of(FASHION, 7, 7);
        g.checkModel(card(546, NativeAttention.BLOCK_CAUSAL, 7, EnumSet.allOf(Capability.class)), "next-block");
        assertThatThrownBy(() -> g.checkModel(card(540, NativeAttention.CAUSAL, 0, EnumSet.allOf(Capability.class)),
                "next-block"))
                .hasMessageContaining("prior has 540 logits per row, but next-block with block_size 7 needs exactly "
                        + "546 (the image layout's 540 ids and 6 learned query tokens)")
                .hasMessageContaining("set block_size 1");
        assertThatThrownBy(() -> g.checkModel(card(546, NativeAttention.BLOCK_CAUSAL, 6,
                EnumSet.allOf(Capability.class)), "next-block"))
                .hasMessageContaining("BLOCK_CAUSAL with block_size 6; set block_size 6");
        assertThatThrownBy(() -> g.checkModel(card(546, NativeAttention.BLOCK_CAUSAL, 7,
                EnumSet.complementOf(EnumSet.of(Capability.SEGMENT_MASK))), "next-block"))
                .hasMessageContaining("Capability.SEGMENT_MASK");
        GroupLayout.of(FASHION, 1, 1).checkModel(card(540, NativeAttention.CAUSAL, 0, EnumSet.noneOf(Capability.class)),
                "next-block");
    }

    static ModelCard card(int vocab, NativeAttention attention, int blockSize, EnumSet<Capability> caps) {
        return new ModelCard("prior", vocab, 49, 16, OptionalInt.empty(), new int[0], OptionalInt.empty(),
                OptionalInt.empty(), LogitAlignment.NEXT, attention, blockSize, caps);
    }

    static Throwable catchArbor(Runnable r) {
        try {
            r.run();
        } catch (ArborException e) {
            return e;
        }
        throw new AssertionError("no ArborException");
    }
}
