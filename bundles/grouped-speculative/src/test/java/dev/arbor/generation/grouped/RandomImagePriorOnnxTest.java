package dev.arbor.generation.grouped;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.autoregressive.KvCache;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.raster.RasterArGenerator;
import dev.arbor.guidance.Guidance;
import dev.arbor.jacobi.JacobiDecoder;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.RandomLlama2cCheckpoint;
import dev.arbor.sampling.SamplingMath;
import dev.arbor.testkit.ToyImageTokenizer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SJD and GSD with CFG rows on a raster image prior run by ONNX Runtime: a seeded random llama2.c checkpoint whose
 * vocabulary is an image layout's (64 codes, 3 classes, null class, 7x7 = 49 tokens per image, as the fashion prior's
 * raster shape), so the image path — class prompt, null-class row on a batch-2 state, codes only, tokensPerImage —
 * and GSD's input-embedding rows ({@link EmbeddingAccess} of the ONNX backend) run on a real transformer. Greedy must
 * equal the guided greedy loop written here (two KV caches, one token per step, combine, argmax over codes) and the
 * {@code raster-ar} generator's guided greedy image.
 */
class RandomImagePriorOnnxTest {
    @TempDir
    static Path dir;
    private static ModelBackend model;
    private static final ToyImageTokenizer IMAGES = new ToyImageTokenizer(ToyImageTokenizer.layout(7, 64, 3, 1, 7), 0);

    private static final TokenSelector ARGMAX = (logits, context) -> {
        int best = SamplingMath.argmax(logits);
        float[] oneHot = new float[logits.length];
        oneHot[best] = 1f;
        return new Selection(best, oneHot, SamplingMath.logSoftmax(logits)[best], 1);
    };
    private static final Supplier<Sampler> GREEDY = () -> new Sampler(List.of(), ARGMAX);

    @BeforeAll
    static void open() throws Exception {
        Path checkpoint = dir.resolve("prior.bin");
        RandomLlama2cCheckpoint.write(new Llama2cConfig(64, 128, 2, 4, 4, IMAGES.layout().vocabSize(), 64, false), 3,
                checkpoint);
        model = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", dir.resolve("cache").toString(), "device", "cpu"))));
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    private static int[] guidedGreedy(int cls, double scale) {
        ImageLayout layout = IMAGES.layout();
        int[] out = new int[layout.tokensPerImage()];
        try (KvCache cond = new KvCache(model); KvCache unc = new KvCache(model)) {
            float[] c = cond.appendLast(layout.classToken(cls)).last(0).clone();
            float[] u = unc.appendLast(layout.nullClassToken()).last(0).clone();
            for (int t = 0; t < out.length; t++) {
                float[] g = Guidance.combineWeighted(c, u, scale, "prior");
                Arrays.fill(g, layout.codes(), g.length, Float.NEGATIVE_INFINITY);
                out[t] = SamplingMath.argmax(g);
                c = cond.appendLast(out[t]).last(0).clone();
                u = unc.appendLast(out[t]).last(0).clone();
            }
        }
        return out;
    }

    @Test
    void greedySjdAndGsdWithCfgRowsEqualGuidedGreedyRasterAutoregression() {
        assertThat(model.extension(EmbeddingAccess.class)).isPresent();
        ImageLayout layout = IMAGES.layout();
        long accepted = 0;
        for (int cls = 0; cls < 3; cls++) {
            int[] expected = guidedGreedy(cls, 3.0);
            assertThat(expected).as("guidance changes the image").isNotEqualTo(guidedGreedy(cls, 1.0));
            assertThat(Arrays.stream(expected).distinct().count()).as("a non-degenerate image: %s",
                    Arrays.toString(expected)).isGreaterThan(5);
            // The raster-ar generator's guided greedy image (batch-2 CFG rows, one token per forward) is the same.
            GenerationResult raster = new RasterArGenerator().generate(context(cls, Map.of("guidance_scale", 3.0)),
                    TokenSink.DISCARD);
            assertThat(raster.forwardPasses()).isEqualTo(layout.tokensPerImage());
            for (String init : List.of("random", "repeat_horizon")) {
                Map<String, Object> options = Map.of("guidance_scale", 3.0, "draft_init", init);
                GenerationResult sjd = JacobiDecoder.generate(context(cls, options), TokenSink.DISCARD);
                GenerationResult gsd = new GroupedSpeculativeGenerator().generate(context(cls, options),
                        TokenSink.DISCARD);
                assertThat(sjd.tokens()).as("SJD, class %d, %s", cls, init).containsExactly(expected);
                assertThat(raster.tokens()).as("raster-ar, class %d", cls).containsExactly(expected);
                assertThat(gsd.tokens()).as("GSD, class %d, %s", cls, init).containsExactly(expected);
                assertThat(sjd.stats()).containsEntry("cfg.mode", "batch").containsEntry("image.tokens",
                        layout.tokensPerImage());
                assertThat(sjd.forwardPasses()).isLessThanOrEqualTo(layout.tokensPerImage());
                accepted += (long) sjd.stats().get("speculative.accepted") + (long) gsd.stats().get(
                        "speculative.accepted");
            }
        }
        assertThat(accepted).as("multi-token steps are compared").isPositive();
    }

    /** The pipeline's stop tokens are the card's EOS (llama2.c's default, id 1: a code here), which images ignore. */
    private static GenerationContext context(int cls, Map<String, ?> options) {
        return new GenerationContext(model, IMAGES, new int[] {IMAGES.layout().classToken(cls)}, 256, GREEDY,
                model.card().eosTokenIds(), 0, Options.of(options), Cancellation.NEVER);
    }
}
