package dev.arbor.backend.onnxruntime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cModelCard;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.models.llama2c.RandomLlama2cCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Input embeddings on the onnxruntime backend with a VAR-shaped random llama2.c model (vocabulary 545, card attention
 * SCALE_CAUSAL, alignment SAME): the converter's inputs_embeds graph run scale by scale (1, 4, 9, 16 new positions,
 * KV appended, a Segments mask with segment = scale) equals one stateless forward of the pure-Java reference model;
 * token ids on that graph equal the input_ids graph; bad inputs are refused by name.
 */
class InputEmbeddingsTest {
    private static final double TOL = 1e-4;
    /** Side of each scale: scale 0 is the class token, scales 1.. take feature embeddings (VAR's 1, 2, 3, 4, ...). */
    private static final int[] SIDES = {1, 2, 3, 4};
    private static final Llama2cConfig VAR_SHAPE = new Llama2cConfig(32, 64, 2, 4, 2, 545, 32, false);

    @TempDir
    Path dir;

    @Test
    void scaleByScaleEmbeddingsWithKvAppendMatchOneStatelessReferenceForward() throws IOException {
        Path checkpoint = varCheckpoint(VAR_SHAPE);
        Llama2cReferenceModel reference = Llama2cReferenceModel.open(checkpoint);
        try (ModelBackend ort = open(checkpoint, Map.of())) {
            assertThat(ort.card().capabilities()).contains(Capability.INPUT_EMBEDS, Capability.EMBEDDING_MATRIX,
                    Capability.SEGMENT_MASK);
            assertThat(ort.card().nativeAttention()).isEqualTo(NativeAttention.SCALE_CAUSAL);
            assertThat(ort.card().alignment()).isEqualTo(LogitAlignment.SAME);
            int[] classes = {3, 7};
            float[][][] inputs = varInputs(reference, classes, 11);
            int[][] seg = scaleSegments(2);
            ForwardRequest full = ForwardRequest.builderForEmbeddings(inputs)
                    .attention(new AttentionSpec.Segments(seg, seg)).build();
            ForwardResult expected = reference.forward(full);
            assertRowsAgree("stateless onnxruntime", ort.forward(full), expected, 0);

            // The scale mask is honoured: causal attention over the same inputs gives other logits.
            ForwardResult causal = ort.forward(ForwardRequest.builderForEmbeddings(inputs).build());
            assertThat(maxDiff(causal.logits(0, 1), expected.logits(0, 1))).isGreaterThan(1e-3);

            try (DecodeState state = ort.newState(2)) {
                int from = 0;
                for (int k = 0; k < SIDES.length; k++) {
                    int n = SIDES[k] * SIDES[k];
                    ForwardRequest.Builder step = k == 0
                            ? ForwardRequest.builder(new int[][] {{classes[0]}, {classes[1]}}) // gathered here
                            : ForwardRequest.builderForEmbeddings(slice(inputs, from, n));
                    ForwardResult r = ort.forward(step.state(state)
                            .attention(new AttentionSpec.Segments(slice(seg, from, n), slice(seg, 0, from + n)))
                            .build());
                    assertRowsAgree("scale " + k, r, expected, from);
                    from += n;
                    assertThat(state.length()).isEqualTo(from);
                }
            }
        }
    }

    @Test
    void tokenIdsOnTheEmbeddingsGraphEqualTheTokenGraph() throws IOException {
        Path checkpoint = dir.resolve("causal.bin");
        RandomLlama2cCheckpoint.write(new Llama2cConfig(32, 64, 2, 4, 2, 545, 32, true), 9, checkpoint);
        try (ModelBackend tokens = open(checkpoint, Map.of());
             ModelBackend embeds = open(checkpoint, Map.of("input_embeds", true));
             DecodeState a = tokens.newState(2);
             DecodeState b = embeds.newState(2)) {
            assertThat(tokens.card().supports(Capability.INPUT_EMBEDS)).isFalse();
            assertThat(embeds.card().supports(Capability.INPUT_EMBEDS)).isTrue();
            int[][] next = {{1, 40, 300, 7, 544}, {1, 9, 9, 500, 12}};
            for (int step = 0; step < 4; step++) {
                ForwardResult x = tokens.forward(ForwardRequest.builder(next).state(a).build());
                ForwardResult y = embeds.forward(ForwardRequest.builder(next).state(b).build());
                for (int r = 0; r < 2; r++) {
                    for (int q = 0; q < next[0].length; q++) {
                        assertThat(maxDiff(x.logits(r, q), y.logits(r, q))).as("step %d row %d query %d", step, r, q)
                                .isLessThanOrEqualTo(1e-6);
                    }
                }
                next = new int[][] {{argmax(x.last(0))}, {argmax(x.last(1))}};
            }
            assertThat(b.length()).isEqualTo(8);
        }
    }

    @Test
    void wrongWidthsAndUnsupportedEmbeddingsAreRefusedByName() throws IOException {
        Path checkpoint = varCheckpoint(VAR_SHAPE);
        try (ModelBackend ort = open(checkpoint, Map.of())) {
            float[][][] narrow = new float[1][2][31];
            assertThatThrownBy(() -> ort.forward(ForwardRequest.builderForEmbeddings(narrow).build()))
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                    .hasMessageContaining("'var-test'").hasMessageContaining("width 32")
                    .hasMessageContaining("width 31");
            float[][][] ragged = {{new float[32], new float[32]}, {new float[32]}};
            assertThatThrownBy(() -> ort.forward(ForwardRequest.builderForEmbeddings(ragged).build()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("row 1 has 1");
        }
        // A graph with input_ids lacks INPUT_EMBEDS and says how to get it.
        Path causal = dir.resolve("plain.bin");
        RandomLlama2cCheckpoint.write(VAR_SHAPE, 4, causal);
        try (ModelBackend ort = open(causal, Map.of())) {
            assertThatThrownBy(() -> ort.forward(ForwardRequest.builderForEmbeddings(new float[1][1][32]).build()))
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                    .hasMessageContaining("plain.bin").hasMessageContaining("INPUT_EMBEDS")
                    .hasMessageContaining("input_embeds=true");
        }
        assertThatThrownBy(() -> open(causal, Map.of("input_embeds", true, "graph", "fused")))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("graph=reference");
    }

    @Test
    void anInputsEmbedsGraphOpenedAsPlainOnnxTakesEmbeddingsButNoTokenIds() throws IOException {
        Path checkpoint = varCheckpoint(VAR_SHAPE);
        Path onnx = dev.arbor.models.llama2c.Llama2cOnnxConverter.convertCached(checkpoint, 0, dir.resolve("cache"));
        Llama2cReferenceModel reference = Llama2cReferenceModel.open(checkpoint);
        try (ModelBackend ort = new OnnxRuntimeBackendProvider().open(new ModelSpec(onnx, "onnx", Options.empty()))) {
            assertThat(ort.card().capabilities()).contains(Capability.INPUT_EMBEDS)
                    .doesNotContain(Capability.EMBEDDING_MATRIX);
            float[][][] inputs = varInputs(reference, new int[] {1}, 5);
            ForwardRequest request = ForwardRequest.builderForEmbeddings(inputs).build();
            assertRowsAgree("plain onnx", ort.forward(request), reference.forward(request), 0);
            assertThatThrownBy(() -> ort.forward(ForwardRequest.builder(new int[][] {{1, 2}}).build()))
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                    .hasMessageContaining("'var-test'").hasMessageContaining("builderForEmbeddings")
                    .hasMessageContaining("format llama2c");
        }
    }

    private ModelBackend open(Path checkpoint, Map<String, Object> options) {
        Map<String, Object> all = new HashMap<>(options);
        all.put("cache_dir", dir.resolve("cache").toString());
        return new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c", Options.of(all)));
    }

    /** A random checkpoint of {@code shape} with a VAR card (SCALE_CAUSAL, SAME). */
    private Path varCheckpoint(Llama2cConfig shape) throws IOException {
        Path checkpoint = dir.resolve("var.bin");
        RandomLlama2cCheckpoint.write(shape, 21, checkpoint);
        Files.writeString(Llama2cModelCard.sidecarOf(checkpoint), "{\"name\": \"var-test\", \"bos\": null, "
                + "\"eos\": [], \"alignment\": \"SAME\", \"attention\": \"SCALE_CAUSAL\"}");
        return checkpoint;
    }

    /**
     * [batch][positions][dim]: the class token's embedding row at position 0 (what a token-id request gathers), then
     * seeded feature-like vectors (VAR feeds E[level] + Σ f_j·E[basis j]; any vectors test the contract).
     */
    static float[][][] varInputs(Llama2cReferenceModel reference, int[] classes, long seed) {
        int dim = reference.card().hiddenSize();
        int positions = Arrays.stream(SIDES).map(s -> s * s).sum();
        Random rng = new Random(seed);
        float[][][] out = new float[classes.length][positions][dim];
        for (int b = 0; b < classes.length; b++) {
            out[b][0] = reference.embedding(classes[b]);
            for (int p = 1; p < positions; p++) {
                for (int i = 0; i < dim; i++) {
                    out[b][p][i] = (float) (rng.nextGaussian() * 0.05);
                }
            }
        }
        return out;
    }

    /** The scale index of every position, for each of {@code batch} rows. */
    static int[][] scaleSegments(int batch) {
        int positions = Arrays.stream(SIDES).map(s -> s * s).sum();
        int[] seg = new int[positions];
        int p = 0;
        for (int k = 0; k < SIDES.length; k++) {
            for (int i = 0; i < SIDES[k] * SIDES[k]; i++) {
                seg[p++] = k;
            }
        }
        int[][] out = new int[batch][];
        Arrays.fill(out, seg);
        return out;
    }

    private static float[][][] slice(float[][][] rows, int from, int n) {
        float[][][] out = new float[rows.length][][];
        for (int b = 0; b < rows.length; b++) {
            out[b] = Arrays.copyOfRange(rows[b], from, from + n);
        }
        return out;
    }

    private static int[][] slice(int[][] rows, int from, int n) {
        int[][] out = new int[rows.length][];
        for (int b = 0; b < rows.length; b++) {
            out[b] = Arrays.copyOfRange(rows[b], from, from + n);
        }
        return out;
    }

    /** Every logit row of {@code actual} equals row {@code offset + q} of {@code expected} within 1e-4. */
    private static void assertRowsAgree(String what, ForwardResult actual, ForwardResult expected, int offset) {
        for (int b = 0; b < actual.logits().length; b++) {
            for (int q = 0; q < actual.logits()[b].length; q++) {
                assertThat(maxDiff(actual.logits(b, q), expected.logits(b, offset + q)))
                        .as("%s: row %d position %d", what, b, offset + q).isLessThanOrEqualTo(TOL);
            }
        }
    }

    private static double maxDiff(float[] a, float[] b) {
        assertThat(a).hasSameSizeAs(b);
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs((double) a[i] - b[i]));
        }
        return worst;
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
