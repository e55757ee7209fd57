package dev.arbor.generation.grouped;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.raster.RasterArGenerator;
import dev.arbor.jacobi.JacobiDecoder;
import dev.arbor.sampling.SamplingMath;
import dev.arbor.testkit.ToyImageTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A measurement (and one check): forwards per image of SJD and GSD with CFG rows on the trained raster prior
 * {@code fashion-ar} (49 codes per image; plain raster AR needs 49 forwards, one batch-2 forward per token with CFG).
 * Runs only when {@code -Dfashion.ar=PATH/fashion-ar.bin} is given (the prior is trained outside the build), e.g.
 * <pre>mvn -o -pl bundles/grouped-speculative test -Dtest=FashionArForwardsHarness \
 *     -Dfashion.ar=models/trained/fashion-ar/fashion-ar.bin [-Dfashion.images=10] [-Dfashion.cfg=2.0]</pre>
 * Sampling at temperature 1 with top-k 100 (a fifth of the codes, as Lumina-mGPT's 2000 of 8192) and
 * guidance_scale 2 (the raster-ar default; -Dfashion.cfg=3 is Lumina-mGPT/GSD's); window 16, random drafts. The
 * layout is the fashion priors' (512 codes, 10 classes, 7x7, featureDim 16 = 540 ids): the loop needs only the
 * layout, not the VQ decoder. First, greedy SJD and GSD must draw the raster-ar generator's guided greedy image for
 * every class.
 */
class FashionArForwardsHarness {
    @TempDir
    Path cache;

    private static final TokenSelector INVERSE_CDF = (logits, context) -> {
        double[] p = SamplingMath.softmax(logits);
        int token = SamplingMath.inverseCdf(p, context.random().nextDouble());
        return new Selection(token, SamplingMath.toFloat(p), Math.log(p[token]), p[token]);
    };

    /** Keeps the {@code k} largest logits (ties at the k-th value kept), as HF's top-k. */
    private static LogitsProcessor topK(int k) {
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

    private static final TokenSelector ARGMAX = (logits, context) -> {
        int best = SamplingMath.argmax(logits);
        float[] oneHot = new float[logits.length];
        oneHot[best] = 1f;
        return new Selection(best, oneHot, SamplingMath.logSoftmax(logits)[best], 1);
    };

    private static GenerationContext context(ModelBackend model, ToyImageTokenizer images, int cls,
                                             Supplier<Sampler> chain, double scale, long seed) {
        return new GenerationContext(model, images, new int[] {images.layout().classToken(cls)}, 256, chain, null,
                seed, Options.of(Map.of("guidance_scale", scale)), Cancellation.NEVER);
    }

    @Test
    void forwardsPerImageOfGuidedSjdAndGsd() {
        String path = System.getProperty("fashion.ar", "");
        Assumptions.assumeTrue(!path.isEmpty() && Files.isRegularFile(Path.of(path)),
                "measurement harness: give -Dfashion.ar=PATH/fashion-ar.bin to run it");
        int perStrategy = Integer.getInteger("fashion.images", 10);
        double scale = Double.parseDouble(System.getProperty("fashion.cfg", "2.0"));
        ToyImageTokenizer images = new ToyImageTokenizer(ToyImageTokenizer.layout(28, 512, 10, 16, 7), 0);
        ImageLayout layout = images.layout();
        Supplier<Sampler> chain = () -> new Sampler(List.of(topK(100)), INVERSE_CDF);
        try (ModelBackend model = new OnnxRuntimeBackendProvider().open(new ModelSpec(Path.of(path), "llama2c",
                Options.of(Map.of("cache_dir", cache.toString(), "device", "cpu"))))) {
            assertThat(model.card().vocabSize()).isEqualTo(layout.vocabSize());
            // Greedy: SJD and GSD with CFG rows draw raster-ar's guided greedy image, class by class.
            Supplier<Sampler> greedy = () -> new Sampler(List.of(), ARGMAX);
            for (int c = 0; c < 10; c++) {
                int[] raster = new RasterArGenerator().generate(context(model, images, c, greedy, scale, c),
                        TokenSink.DISCARD).tokens();
                assertThat(JacobiDecoder.generate(context(model, images, c, greedy, scale, c), TokenSink.DISCARD)
                        .tokens()).as("greedy SJD, class %d", c).containsExactly(raster);
                assertThat(new GroupedSpeculativeGenerator().generate(context(model, images, c, greedy, scale, c),
                        TokenSink.DISCARD).tokens()).as("greedy GSD, class %d", c).containsExactly(raster);
            }
            for (String strategy : List.of("sjd", "gsd")) {
                long forwards = 0;
                long nanos = 0;
                double groups = 0;
                for (int i = 0; i < perStrategy; i++) {
                    GenerationContext context = context(model, images, i % 10, chain, scale, i);
                    long start = System.nanoTime();
                    GenerationResult r = strategy.equals("sjd") ? JacobiDecoder.generate(context, TokenSink.DISCARD)
                            : new GroupedSpeculativeGenerator().generate(context, TokenSink.DISCARD);
                    nanos += System.nanoTime() - start;
                    assertThat(r.tokens()).hasSize(49);
                    forwards += r.forwardPasses();
                    groups += r.stats().get("grouped.mean_group_size") instanceof Double g ? g : 1.0;
                }
                System.out.printf(Locale.ROOT, "fashion-ar, %s with CFG s=%.1f (batch-2 rows), W=16, top-k 100, %d "
                        + "images: %.2f forwards per image (raster AR: 49), %.2f tokens per forward, %.1f ms per "
                        + "image (CPU), mean group size %.2f%n", strategy.toUpperCase(Locale.ROOT), scale,
                        perStrategy, forwards / (double) perStrategy, 49.0 * perStrategy / forwards,
                        nanos / 1e6 / perStrategy, groups / perStrategy);
            }
        }
    }
}
