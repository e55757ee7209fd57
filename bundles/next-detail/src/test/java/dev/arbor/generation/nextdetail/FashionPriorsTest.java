package dev.arbor.generation.nextdetail;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.raster.RasterArGenerator;
import dev.arbor.models.images.CoarseToFineImageTokenizer;
import dev.arbor.models.images.VqImageTokenizer;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The committed Fashion-MNIST priors (models/trained) on ONNX Runtime, as the pipelines run them: next-detail with
 * group size 1 on the raster prior fashion-ar is the raster-ar generator token for token (CFG on, same seed), and the
 * trained DetailFlow prior fashion-detailflow decodes its 16 coarse-to-fine tokens in 1 + 3 + 3 = 7 forwards, the
 * coarse image streamed after the causal start and after every group.
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
    static final CoarseToFineImageTokenizer DETAIL_VQ = CoarseToFineImageTokenizer.read(
            fromRoot("models/trained/fashion-detail-vq/fashion-detail-vq.bin"), VqImageTokenizer.FASHION_CLASSES);

    static ModelBackend open(String name) {
        return new OnnxRuntimeBackendProvider().open(new ModelSpec(
                fromRoot("models/trained/" + name + "/" + name + ".bin"), "llama2c",
                Options.of(Map.of("cache_dir", cache.toString(), "device", "cpu"))));
    }

    static GenerationContext context(ModelBackend model, ImageTokenizer tokenizer, int cls, long seed,
                                     Map<String, ?> options) {
        return new GenerationContext(model, tokenizer, new int[] {tokenizer.layout().classToken(cls)},
                tokenizer.layout().tokensPerImage(), () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF), null,
                seed, Options.of(options), Cancellation.NEVER);
    }

    @Test
    void groupSizeOneOnFashionArIsRasterArTokenForToken() {
        try (ModelBackend model = open("fashion-ar")) {
            for (int cls = 0; cls < 10; cls += 3) {
                GenerationResult raster = new RasterArGenerator().generate(context(model, PATCH_VQ, cls, 100 + cls,
                        Map.of("guidance_scale", 2.0)), new RecordingSink());
                GenerationResult detail = new NextDetailGenerator().generate(context(model, PATCH_VQ, cls, 100 + cls,
                        Map.of("guidance_scale", 2.0, "group_size", 1, "causal_num", 1)), new RecordingSink());
                assertThat(detail.tokens()).as("class %d", cls).hasSize(49).containsExactly(raster.tokens());
                assertThat(detail.logProbs()).containsExactly(raster.logProbs());
                assertThat(detail.forwardPasses()).isEqualTo(raster.forwardPasses()).isEqualTo(49);
                assertThat(detail.stats()).containsEntry("cfg.mode", "batch");
            }
        }
    }

    @Test
    void fashionDetailflowDecodesWholeImagesInSevenForwards() {
        try (ModelBackend model = open("fashion-detailflow")) {
            assertThat(model.card().vocabSize()).isEqualTo(DETAIL_VQ.layout().vocabSize() + 3);
            assertThat(model.card().nativeAttention()).isEqualTo(NativeAttention.BLOCK_CAUSAL);
            assertThat(model.card().blockSize()).isEqualTo(4);
            for (int cls = 0; cls < 10; cls++) {
                RecordingSink sink = new RecordingSink();
                GenerationResult r = new NextDetailGenerator().generate(context(model, DETAIL_VQ, cls, cls,
                        Map.of("guidance_scale", 2.0)), sink);
                assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
                assertThat(r.tokens()).hasSize(16);
                assertThat(Arrays.stream(r.tokens()).allMatch(t -> t >= 0 && t < 512)).isTrue();
                assertThat(r.forwardPasses()).isEqualTo(7);
                assertThat(sink.canvases()).hasSize(4);
                assertThat(DETAIL_VQ.decodeImage(r.tokens())).hasNumberOfRows(28);
            }
            // DetailFlow's gradual guidance on the trained prior
            GenerationResult gradual = new NextDetailGenerator().generate(context(model, DETAIL_VQ, 7, 1,
                    Map.of("guidance_scale", 2.0, "gradual_cfg", true)), new RecordingSink());
            assertThat(gradual.forwardPasses()).isEqualTo(7);
            assertThat(gradual.stats()).containsEntry("cfg.gradual", true);
        }
    }
}
