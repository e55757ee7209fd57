package dev.arbor.generation.nextblock;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.raster.RasterArGenerator;
import dev.arbor.models.images.VqImageTokenizer;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The committed Fashion-MNIST priors (models/trained) on ONNX Runtime, as the pipelines run them: next-block with
 * block size 1 on the raster prior fashion-ar is the raster-ar generator token for token (CFG on, same seed), and the
 * trained group prior fashion-nbp decodes whole images in 13 forwards with its card's block size.
 */
class FashionPriorsTest {
    @TempDir
    static Path cache;

    static Path fromRoot(String path) {
        for (Path base = Path.of("").toAbsolutePath(); base != null; base = base.getParent()) {
            if (Files.exists(base.resolve(path))) {
                return base.resolve(path);
            }
        }
        throw new IllegalStateException(path + " not found above " + Path.of("").toAbsolutePath());
    }

    static final VqImageTokenizer PATCH_VQ = VqImageTokenizer.read(
            fromRoot("models/trained/fashion-vq/fashion-patch-vq.bin"), VqImageTokenizer.FASHION_CLASSES);

    static ModelBackend open(String name) {
        return new OnnxRuntimeBackendProvider().open(new ModelSpec(
                fromRoot("models/trained/" + name + "/" + name + ".bin"), "llama2c",
                Options.of(Map.of("cache_dir", cache.toString(), "device", "cpu"))));
    }

    static GenerationContext context(ModelBackend model, int cls, long seed, Map<String, ?> options) {
        return new GenerationContext(model, PATCH_VQ, new int[] {PATCH_VQ.layout().classToken(cls)}, 49,
                () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF), null, seed, Options.of(options),
                Cancellation.NEVER);
    }

    @Test
    void blockSizeOneOnFashionArIsRasterArTokenForToken() {
        try (ModelBackend model = open("fashion-ar")) {
            for (int cls = 0; cls < 10; cls += 3) {
                GenerationResult raster = new RasterArGenerator().generate(context(model, cls, 100 + cls,
                        Map.of("guidance_scale", 2.0)), new RecordingSink());
                GenerationResult block = new NextBlockGenerator().generate(context(model, cls, 100 + cls,
                        Map.of("guidance_scale", 2.0, "block_size", 1, "causal_num", 1)), new RecordingSink());
                assertThat(block.tokens()).as("class %d", cls).hasSize(49).containsExactly(raster.tokens());
                assertThat(block.logProbs()).containsExactly(raster.logProbs());
                assertThat(block.forwardPasses()).isEqualTo(raster.forwardPasses()).isEqualTo(49);
                assertThat(block.stats()).containsEntry("cfg.mode", "batch");
            }
        }
    }

    @Test
    void fashionNbpDecodesWholeImagesInThirteenForwards() {
        try (ModelBackend model = open("fashion-nbp")) {
            assertThat(model.card().vocabSize()).isEqualTo(PATCH_VQ.layout().vocabSize() + 6);
            assertThat(model.card().nativeAttention()).isEqualTo(NativeAttention.BLOCK_CAUSAL);
            assertThat(model.card().blockSize()).isEqualTo(7);
            for (int cls = 0; cls < 10; cls++) {
                RecordingSink sink = new RecordingSink();
                GenerationResult r = new NextBlockGenerator().generate(context(model, cls, cls,
                        Map.of("guidance_scale", 2.0)), sink);
                assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
                assertThat(r.tokens()).hasSize(49);
                assertThat(java.util.Arrays.stream(r.tokens()).allMatch(t -> t >= 0 && t < 512)).isTrue();
                assertThat(r.forwardPasses()).isEqualTo(13);
                assertThat(sink.canvases()).hasSize(7);
                float[][] image = PATCH_VQ.decodeImage(r.tokens());
                assertThat(image).hasNumberOfRows(28);
            }
        }
    }
}
