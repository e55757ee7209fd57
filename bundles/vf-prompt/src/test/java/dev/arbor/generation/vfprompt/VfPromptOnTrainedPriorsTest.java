package dev.arbor.generation.vfprompt;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.raster.RasterArGenerator;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.ToyImageTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generator on the forge's committed Fashion-MNIST priors through a real backend (ONNX Runtime, the llama2.c
 * checkpoints converted on open), sampling with guidance as the pipelines do (top-k 100, temperature 1, LlamaGen
 * s = 2, batch-2 rows): with {@code vf_tokens 0} on {@code fashion-ar} it draws raster-ar's image token for token;
 * on {@code fashion-vf} the 5 VF tokens come from the VF ids and never reach the output, which is the 49 codes after
 * {@code 1 + 5 + 48} forwards. The layout is the fashion priors' (512 codes, 10 classes, 7x7, featureDim 16 = 540
 * ids): the generator needs the layout, not the VQ decoder.
 */
class VfPromptOnTrainedPriorsTest {
    static final ToyImageTokenizer IMAGES = new ToyImageTokenizer(ToyImageTokenizer.layout(28, 512, 10, 16, 7), 0);
    static final ImageLayout LAYOUT = IMAGES.layout();

    @TempDir
    Path cache;

    /** {@code models/trained/<name>/<name>.bin} of the repository (surefire runs in the module folder). */
    static Path trained(String name) {
        for (Path base = Path.of("").toAbsolutePath(); base != null; base = base.getParent()) {
            Path p = base.resolve("models").resolve("trained").resolve(name).resolve(name + ".bin");
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        throw new IllegalStateException("models/trained/" + name + "/" + name + ".bin not found above "
                + Path.of("").toAbsolutePath());
    }

    ModelBackend open(String name) {
        return new OnnxRuntimeBackendProvider().open(new ModelSpec(trained(name), "llama2c",
                Options.of(Map.of("cache_dir", cache.resolve(name).toString(), "device", "cpu"))));
    }

    /** Keeps the {@code k} largest logits (ties at the k-th value kept), as the pipelines' top-k. */
    static LogitsProcessor topK(int k) {
        return (logits, context) -> {
            float[] sorted = logits.clone();
            Arrays.sort(sorted);
            float kth = sorted[Math.max(0, sorted.length - k)];
            for (int i = 0; i < logits.length; i++) {
                if (logits[i] < kth) {
                    logits[i] = Float.NEGATIVE_INFINITY;
                }
            }
        };
    }

    static final Supplier<Sampler> CHAIN = () -> new Sampler(List.of(topK(100)), TestSelectors.INVERSE_CDF);

    static GenerationContext context(ModelBackend model, int cls, long seed, Map<String, ?> options) {
        return new GenerationContext(model, IMAGES, new int[] {LAYOUT.classToken(cls)}, 49, CHAIN, null, seed,
                Options.of(options), Cancellation.NEVER);
    }

    @Test
    void zeroVfTokensOnFashionArIsRasterArTokenForTokenWithGuidance() {
        try (ModelBackend model = open("fashion-ar")) {
            assertThat(model.card().vocabSize()).isEqualTo(LAYOUT.vocabSize());
            Map<String, Object> options = Map.of("guidance_scale", 2.0, "cfg_convention", "llamagen");
            Map<String, Object> zero = new HashMap<>(options);
            zero.put("vf_tokens", 0);
            for (int c = 0; c < 10; c++) {
                GenerationResult raster = new RasterArGenerator().generate(context(model, c, 100 + c, options),
                        TokenSink.DISCARD);
                GenerationResult vf = new VfPromptGenerator().generate(context(model, c, 100 + c, zero),
                        TokenSink.DISCARD);
                assertThat(vf.tokens()).as("class %d", c).hasSize(49).containsExactly(raster.tokens());
                assertThat(vf.logProbs()).isEqualTo(raster.logProbs());
                assertThat(vf.forwardPasses()).isEqualTo(raster.forwardPasses()).isEqualTo(49);
                assertThat(vf.stats()).containsEntry("cfg.mode", "batch").containsEntry("cfg.guided_steps", 49);
            }
        }
    }

    @Test
    void onFashionVfTheVfTokensComeFirstAndNeverReachTheOutput() {
        try (ModelBackend model = open("fashion-vf")) {
            int vfOffset = LAYOUT.vocabSize();
            assertThat(model.card().vocabSize()).isEqualTo(vfOffset + 512);
            for (int c = 0; c < 10; c++) {
                RecordingSink sink = new RecordingSink();
                GenerationResult r = new VfPromptGenerator().generate(context(model, c, c,
                        Map.of("guidance_scale", 2.0, "vf_tokens", 5, "vf_offset", vfOffset)), sink);
                assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
                assertThat(r.tokens()).hasSize(49);
                assertThat(Arrays.stream(r.tokens()).allMatch(LAYOUT::isCode)).as("only codes are emitted").isTrue();
                assertThat(sink.tokens()).containsExactly(r.tokens());
                @SuppressWarnings("unchecked")
                List<Integer> prompt = (List<Integer>) r.stats().get("vf.prompt");
                assertThat(prompt).hasSize(5).allMatch(t -> t >= vfOffset && t < vfOffset + 512);
                // the class token's prefill, one forward per VF token, one per code but the last (batch-2 rows)
                assertThat(r.forwardPasses()).isEqualTo(1 + 5 + 48);
                assertThat(r.stats()).containsEntry("cfg.mode", "batch").containsEntry("cfg.guided_steps", 54);
            }
        }
    }
}
