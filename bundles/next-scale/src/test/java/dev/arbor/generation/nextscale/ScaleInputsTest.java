package dev.arbor.generation.nextscale;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.image.ImageLayout;
import dev.arbor.testkit.ToyImageTokenizer;
import org.junit.jupiter.api.Test;

class ScaleInputsTest {
    private static final ImageLayout LAYOUT = ToyImageTokenizer.layout(6, 8, 3, 2, 1, 2, 3);

    @Test
    void aCellIsTheLevelRowPlusTheFeatureWeightedBasisRows() {
        ToyImageTokenizer tokenizer = new ToyImageTokenizer(LAYOUT, 5);
        ToyScaleBackend toy = new ToyScaleBackend(LAYOUT.vocabSize(), 4, LAYOUT.tokensPerImage(), 9);
        ScaleInputs inputs = new ScaleInputs(toy, LAYOUT, "toy");
        int[] tokens = {3, 1, 7, 0, 5, 2, 2, 2, 2, 2, 2, 2, 2, 2};
        for (int k = 1; k < LAYOUT.scaleCount(); k++) {
            float[][] f = tokenizer.scaleInput(java.util.Arrays.copyOf(tokens, LAYOUT.scaleStart(k)), k);
            float[][] x = inputs.forScale(tokenizer, tokens, k);
            assertThat(x).hasNumberOfRows(LAYOUT.side(k) * LAYOUT.side(k));
            float[] level = toy.embedding(LAYOUT.levelToken(k));
            float[] b0 = toy.embedding(LAYOUT.featureBasisToken(0));
            float[] b1 = toy.embedding(LAYOUT.featureBasisToken(1));
            for (int c = 0; c < x.length; c++) {
                for (int i = 0; i < 4; i++) {
                    double want = (double) level[i] + f[c][0] * (double) b0[i] + f[c][1] * (double) b1[i];
                    assertThat((double) x[c][i]).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-6));
                }
            }
        }
        // tokens after the scale's start must not matter: the input depends on earlier scales only
        int[] other = tokens.clone();
        other[13] = 6;
        other[5] = 4;
        assertThat(inputs.forScale(tokenizer, other, 2)).isDeepEqualTo(inputs.forScale(tokenizer, tokens, 2));
        assertThatThrownBy(() -> inputs.forScale(tokenizer, tokens, 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
