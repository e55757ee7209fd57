package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** Non-finite logits are the model's fault and are reported as such, naming the model and the step. */
class LogitsCheckedModelTest {
    /** Finite logits for the first {@code goodSteps} calls, then one NaN (or +inf) at token 2. */
    private static ModelBackend breaksAfter(int goodSteps, float bad) {
        return new ModelBackend() {
            private int calls;

            @Override
            public ModelCard card() {
                return new ModelCard("tiny-broken", 4, 16, 8, OptionalInt.of(1), new int[] {2}, null, null, null,
                        null, 0, null);
            }

            @Override
            public DecodeState newState(int batchSize) {
                throw new UnsupportedOperationException();
            }

            @Override
            public ForwardResult forward(ForwardRequest request) {
                float[] row = {0.5f, Float.NEGATIVE_INFINITY, 1f, -2f};
                if (++calls > goodSteps) {
                    row[2] = bad;
                }
                return new ForwardResult(new float[][][] {{row}}, null);
            }

            @Override
            public void close() {
            }
        };
    }

    private static ForwardRequest request() {
        return ForwardRequest.builder(new int[][] {{1}}).build();
    }

    @Test
    void finiteLogitsAndMinusInfinityPassUntouched() {
        LogitsCheckedModel model = new LogitsCheckedModel(breaksAfter(100, Float.NaN), "p");
        for (int i = 0; i < 5; i++) {
            assertThat(model.forward(request()).logits(0, 0)).containsExactly(0.5f, Float.NEGATIVE_INFINITY, 1f, -2f);
        }
    }

    @Test
    void nanLogitsAreABadModelNamingTheModelAndStep() {
        LogitsCheckedModel model = new LogitsCheckedModel(breaksAfter(2, Float.NaN), "stories");
        model.forward(request());
        model.forward(request());
        assertThatThrownBy(() -> model.forward(request()))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining("model 'tiny-broken' of pipeline 'stories'")
                .hasMessageContaining("non-finite logits (NaN for token 2")
                .hasMessageContaining("forward step 3")
                .hasMessageContaining("weights or inputs are broken")
                .hasMessageNotContaining("selector");
    }

    @Test
    void plusInfinityIsRefusedToo() {
        assertThatThrownBy(() -> new LogitsCheckedModel(breaksAfter(0, Float.POSITIVE_INFINITY), "p").forward(request()))
                .hasMessageContaining("+Infinity for token 2").hasMessageContaining("forward step 1");
    }
}
