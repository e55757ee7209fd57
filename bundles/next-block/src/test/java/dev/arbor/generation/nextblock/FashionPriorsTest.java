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
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.backend.djl.DjlBackendProvider;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.blockgen.GroupLayout;
import dev.arbor.blockgen.GroupParallelDecoder;
import dev.arbor.blockgen.StepGuidance;
import dev.arbor.guidance.CfgConvention;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;
import dev.arbor.imagegen.ImageRequest;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
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
        return open(name, "onnxruntime");
    }

    static ModelBackend open(String name, String backend) {
        Path bin = fromRoot("models/trained/" + name + "/" + name + ".bin");
        return backend.equals("djl") ? new DjlBackendProvider().open(new ModelSpec(bin, "llama2c", Options.empty()))
                : new OnnxRuntimeBackendProvider().open(new ModelSpec(bin, "llama2c",
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

    /**
     * On both backends: fashion-nbp decodes with guidance rows in 13 forwards, and the logits its group steps read
     * from the KV state equal those of one teacher-forced forward of the finished sequence under the Segments mask.
     */
    @ParameterizedTest
    @ValueSource(strings = {"onnxruntime", "djl"})
    void fashionNbpGroupStepsMatchOneTeacherForcedForward(String backend) {
        try (ModelBackend model = open("fashion-nbp", backend)) {
            assertThat(model.card().blockSize()).isEqualTo(7);
            GenerationResult guided = new NextBlockGenerator().generate(context(model, 8, 4,
                    Map.of("guidance_scale", 2.0)), new RecordingSink());
            assertThat(guided.forwardPasses()).isEqualTo(13);
            assertThat(guided.tokens()).hasSize(49);

            GroupLayout groups = GroupLayout.of(PATCH_VQ.layout(), 7, 7);
            GenerationContext context = context(model, 8, 4, Map.of());
            float[][] seen = new float[49][];
            Sampler sampler = new Sampler(List.of(), TestSelectors.INVERSE_CDF);
            GenerationResult r = GroupParallelDecoder.decode(context, new RecordingSink(),
                    ImageRequest.open(context, "test"), groups,
                    StepGuidance.of(new Guidance(CfgConvention.LLAMAGEN, 1.0, CfgRamp.CONSTANT)),
                    (logits, index, step, history) -> {
                        seen[index] = logits.clone();
                        return sampler.sample(logits, history);
                    }, new java.util.LinkedHashMap<>());
            int[][] seg = {groups.segments()};
            float[][] full = model.forward(ForwardRequest.builder(new int[][] {groups.inputs(0, 49,
                    PATCH_VQ.layout().classToken(8), r.tokens())}).attention(new AttentionSpec.Segments(seg, seg))
                    .build()).logits()[0];
            double max = 0;
            for (int p = 0; p < 49; p++) {
                for (int v = 0; v < 512; v++) {
                    max = Math.max(max, Math.abs(seen[p][v] - full[groups.target(p)][v]));
                }
            }
            assertThat(max).as("max |KV-appended - teacher-forced| logit on %s", backend).isLessThan(1e-3);
        }
    }
}
