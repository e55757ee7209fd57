package dev.arbor.generation.tokenshuffle;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.backend.djl.DjlBackendProvider;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
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
 * The committed {@code fashion-shuffle} prior (models/trained) with the committed patch VQ, decoded by the generator
 * on ONNX Runtime and on DJL (both through input embeddings): the cards carry the 4 output heads, an image takes 16
 * batch-2 forwards with guidance, and the two backends draw the same greedy guided image for each of three classes.
 */
class FashionShuffleBackendsTest {
    @TempDir
    Path cache;

    static final Path PRIOR = Path.of("models/trained/fashion-shuffle/fashion-shuffle.bin");
    static final Path PATCH_VQ = Path.of("models/trained/fashion-vq/fashion-patch-vq.bin");

    /** {@code file} under the module's directory or one above it (the repository root). */
    static Path find(Path file) {
        for (Path base = Path.of("").toAbsolutePath(); base != null; base = base.getParent()) {
            if (Files.isRegularFile(base.resolve(file))) {
                return base.resolve(file);
            }
        }
        throw new IllegalStateException(file + " not found above " + Path.of("").toAbsolutePath());
    }

    static GenerationContext context(ModelBackend model, VqImageTokenizer tokenizer, int cls) {
        return new GenerationContext(model, tokenizer, new int[] {tokenizer.layout().classToken(cls)}, 49,
                () -> new Sampler(List.of(), TestSelectors.ARGMAX), null, 5,
                Options.of(Map.of("guidance_scale", 2.0)), Cancellation.NEVER);
    }

    @Test
    void onnxRuntimeAndDjlDrawTheSameGuidedImages() {
        VqImageTokenizer tokenizer = VqImageTokenizer.read(find(PATCH_VQ), VqImageTokenizer.FASHION_CLASSES);
        Path prior = find(PRIOR);
        TokenShuffleGenerator generator = new TokenShuffleGenerator();
        try (ModelBackend ort = new OnnxRuntimeBackendProvider().open(new ModelSpec(prior, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString(), "device", "cpu", "input_embeds", true))));
             ModelBackend djl = new DjlBackendProvider().open(new ModelSpec(prior, "llama2c", Options.empty()))) {
            for (ModelBackend m : List.of(ort, djl)) {
                assertThat(m.card().outputHeads()).isEqualTo(4);
                assertThat(m.card().headVocabSize()).isEqualTo(tokenizer.layout().vocabSize());
                assertThat(m.card().supports(Capability.INPUT_EMBEDS)).isTrue();
            }
            for (int cls : new int[] {1, 5, 8}) {
                RecordingSink sink = new RecordingSink();
                GenerationResult a = generator.generate(context(ort, tokenizer, cls), sink);
                GenerationResult b = generator.generate(context(djl, tokenizer, cls), new RecordingSink());
                assertThat(a.tokens()).hasSize(49);
                // one batch-2 forward per window (two single-row forwards on a backend without BATCH)
                assertThat(a.forwardPasses()).isEqualTo(ort.card().supports(Capability.BATCH) ? 16 : 32);
                assertThat(b.forwardPasses()).isEqualTo(djl.card().supports(Capability.BATCH) ? 16 : 32);
                assertThat(b.tokens()).as("class %d on DJL", cls).containsExactly(a.tokens());
                assertThat(sink.canvases()).hasSize(4);
                float[][] pixels = tokenizer.decodeImage(a.tokens());
                assertThat(pixels).hasNumberOfRows(28);
            }
        }
    }
}
