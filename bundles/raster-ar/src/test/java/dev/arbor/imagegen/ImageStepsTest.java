package dev.arbor.imagegen;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.testkit.RecordingSink;
import org.junit.jupiter.api.Test;

class ImageStepsTest {

    @Test
    void codeMaskRemovesEveryNonCodeAndKeepsCodes() {
        float[] logits = {0.5f, -1f, 2f, 3f, 4f, -0.25f};
        assertThat(CodeMask.apply(logits, 3)).containsExactly(0.5f, -1f, 2f, Float.NEGATIVE_INFINITY,
                Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY);
        float[] all = {1f, 2f};
        assertThat(CodeMask.apply(all, 2)).containsExactly(1f, 2f);
    }

    @Test
    void theCanvasHoldsTheDecodedPrefixAndTheMaskIdElsewhere() {
        RecordingSink sink = new RecordingSink();
        ImageCanvas canvas = new ImageCanvas(sink, 4, 99);
        canvas.put(7);
        canvas.stream();
        canvas.put(1);
        canvas.put(2);
        canvas.stream();
        assertThat(sink.canvases()).hasSize(2);
        assertThat(sink.canvases().get(0).tokens()).containsExactly(7, 99, 99, 99);
        assertThat(sink.canvases().get(0).step()).isEqualTo(1);
        assertThat(sink.canvases().get(1).tokens()).containsExactly(7, 1, 2, 99);
        assertThat(sink.canvases().get(1).maskTokenId()).isEqualTo(99);
        assertThat(canvas.decoded()).isEqualTo(3);
        assertThat(canvas.steps()).isEqualTo(2);
    }
}
