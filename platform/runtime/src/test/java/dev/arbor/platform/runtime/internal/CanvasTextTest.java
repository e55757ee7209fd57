package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.pipeline.TextSink;
import org.junit.jupiter.api.Test;

/** How a diffusion canvas is shown to clients that ask for canvases (option stream_canvas). */
class CanvasTextTest {
    private static final int MASK = 300;
    private static final String M = TextSink.MASK_PLACEHOLDER;

    @Test
    void masksBecomePlaceholdersAndDecodedRunsText() {
        int[] canvas = {'H', 'i', MASK, MASK, 'y', 'o', MASK};
        assertThat(PipelineServiceImpl.canvasText(TextStreamerTest.BYTES, canvas, MASK, new int[0]))
                .isEqualTo("Hi" + M + M + "yo" + M);
    }

    @Test
    void theCanvasEndsAtTheFirstStopToken() {
        int[] canvas = {'o', 'k', 257, MASK, 'x'};
        assertThat(PipelineServiceImpl.canvasText(TextStreamerTest.BYTES, canvas, MASK, new int[] {257}))
                .isEqualTo("ok");
    }
}
