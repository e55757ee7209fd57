package dev.arbor.generation.nextscale;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.testkit.ToyImageTokenizer;
import org.junit.jupiter.api.Test;

class ScaleSegmentsTest {
    private static final ImageLayout FASHION_VAR = ToyImageTokenizer.layout(28, 512, 10, 16, 1, 2, 3, 4, 5, 7);
    private static final ImageLayout IMAGENET_VAR = ToyImageTokenizer.layout(256, 4096, 10, 32,
            1, 2, 3, 4, 5, 6, 8, 10, 13, 16);

    @Test
    void anImageHasTheSumOfTheSquaredSidesTokens() {
        assertThat(FASHION_VAR.tokensPerImage()).isEqualTo(1 + 4 + 9 + 16 + 25 + 49).isEqualTo(104);
        assertThat(IMAGENET_VAR.tokensPerImage()).isEqualTo(680);
    }

    /**
     * The forwards of all scales together give exactly VAR's training mask over the whole image, a Segments mask with
     * segment = scale: query position i sees key position p iff scale(p) <= scale(i); every key a query of scale k can
     * address (the state's slots plus the scale's own tokens) is checked, visible or not.
     */
    @Test
    void everyScaleSeesExactlyItsOwnAndEarlierScales() {
        for (ImageLayout layout : new ImageLayout[] {FASHION_VAR, IMAGENET_VAR}) {
            for (int k = 0; k < layout.scaleCount(); k++) {
                AttentionSpec.Segments spec = ScaleSegments.forScale(layout, k, 2);
                int start = layout.scaleStart(k);
                int cells = layout.side(k) * layout.side(k);
                for (int b = 0; b < 2; b++) {
                    assertThat(spec.querySegment()[b]).hasSize(cells);
                    assertThat(spec.keySegment()[b]).hasSize(start + cells);
                    for (int q = 0; q < cells; q++) {
                        int position = start + q;
                        for (int p = 0; p < start + cells; p++) {
                            boolean visible = spec.keySegment()[b][p] <= spec.querySegment()[b][q];
                            assertThat(visible).as("scale %d query %d key %d", k, position, p)
                                    .isEqualTo(layout.scaleOf(p) <= layout.scaleOf(position));
                        }
                    }
                }
            }
        }
    }

    @Test
    void theFirstScalesByHand() {
        // scale 0 is the class token alone; scale 1's four queries see it and each other; scale 2 sees scales 0-2
        AttentionSpec.Segments s0 = ScaleSegments.forScale(FASHION_VAR, 0, 1);
        assertThat(s0.querySegment()[0]).containsExactly(0);
        assertThat(s0.keySegment()[0]).containsExactly(0);
        AttentionSpec.Segments s1 = ScaleSegments.forScale(FASHION_VAR, 1, 1);
        assertThat(s1.querySegment()[0]).containsExactly(1, 1, 1, 1);
        assertThat(s1.keySegment()[0]).containsExactly(0, 1, 1, 1, 1);
        AttentionSpec.Segments s2 = ScaleSegments.forScale(FASHION_VAR, 2, 1);
        assertThat(s2.querySegment()[0]).containsOnly(2).hasSize(9);
        assertThat(s2.keySegment()[0]).containsExactly(0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2);
    }
}
