package dev.arbor.backend.djl;

import static dev.arbor.backend.djl.DjlTestSupport.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cModelCard;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.models.llama2c.RandomLlama2cCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Input embeddings agree across the three implementations of a VAR-shaped random llama2.c model (vocabulary 545,
 * card SCALE_CAUSAL, two rows as for CFG): the pure-Java reference (one stateless forward over every position with
 * the scale Segments mask) against the djl and onnxruntime backends run scale by scale (the class token as a token
 * id, then 4, 9 and 16 embeddings per scale, KV appended), every logit row within 1e-4.
 */
class InputEmbeddingsConformanceTest {
    private static final double TOL = 1e-4;
    /** Scale sides: scale 0 is the class token, scales 1.. take feature embeddings. */
    private static final int[] SIDES = {1, 2, 3, 4};

    @TempDir
    Path dir;

    @Test
    void referenceDjlAndOnnxRuntimeAgreeScaleByScale() throws IOException {
        Path checkpoint = dir.resolve("var.bin");
        RandomLlama2cCheckpoint.write(new Llama2cConfig(32, 64, 2, 4, 2, 545, 32, false), 17, checkpoint);
        Files.writeString(Llama2cModelCard.sidecarOf(checkpoint), "{\"name\": \"var-test\", \"alignment\": "
                + "\"SAME\", \"attention\": \"SCALE_CAUSAL\"}");
        Llama2cReferenceModel reference = Llama2cReferenceModel.open(checkpoint);
        int[] classes = {5, 500};
        float[][][] inputs = inputs(reference, classes, 3);
        int[][] seg = segments(classes.length);
        ForwardResult expected = reference.forward(ForwardRequest.builderForEmbeddings(inputs)
                .attention(new AttentionSpec.Segments(seg, seg)).build());
        try (ModelBackend djl = DjlTestSupport.provider().open(new ModelSpec(checkpoint, "llama2c", Options.empty()));
             ModelBackend ort = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                     Options.of(Map.of("cache_dir", dir.resolve("cache").toString()))))) {
            for (ModelBackend m : List.of(djl, ort)) {
                assertThat(m.card().capabilities()).contains(Capability.INPUT_EMBEDS, Capability.EMBEDDING_MATRIX);
                assertThat(m.card().nativeAttention()).isEqualTo(NativeAttention.SCALE_CAUSAL);
                String name = m == djl ? "djl" : "onnxruntime";
                assertAgree(name + " stateless", m.forward(ForwardRequest.builderForEmbeddings(inputs)
                        .attention(new AttentionSpec.Segments(seg, seg)).build()), expected, 0);
                try (DecodeState state = m.newState(classes.length)) {
                    int from = 0;
                    for (int k = 0; k < SIDES.length; k++) {
                        int n = SIDES[k] * SIDES[k];
                        ForwardRequest.Builder step = k == 0
                                ? ForwardRequest.builder(new int[][] {{classes[0]}, {classes[1]}})
                                : ForwardRequest.builderForEmbeddings(slice(inputs, from, n));
                        ForwardResult r = m.forward(step.state(state).attention(
                                new AttentionSpec.Segments(slice(seg, from, n), slice(seg, 0, from + n))).build());
                        assertAgree(name + " scale " + k, r, expected, from);
                        from += n;
                    }
                    assertThat(state.length()).isEqualTo(from);
                }
            }
            // The mask matters: without it the scale-1 rows differ, so agreement above is not vacuous.
            ForwardResult causal = djl.forward(ForwardRequest.builderForEmbeddings(inputs).build());
            assertThat(maxAbsDiff(causal.logits(0, 1), expected.logits(0, 1))).isGreaterThan(1e-3);

            float[][][] wide = new float[1][1][33];
            assertThatThrownBy(() -> djl.forward(ForwardRequest.builderForEmbeddings(wide).build()))
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                    .hasMessageContaining("'var-test'").hasMessageContaining("width 32")
                    .hasMessageContaining("width 33");
        }
    }

    /** Row 0: the class token's embedding (what a token-id step gathers); then seeded feature-like vectors. */
    private static float[][][] inputs(Llama2cReferenceModel reference, int[] classes, long seed) {
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

    private static int[][] segments(int batch) {
        int[] seg = new int[Arrays.stream(SIDES).map(s -> s * s).sum()];
        for (int k = 0, p = 0; k < SIDES.length; k++) {
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

    private static void assertAgree(String what, ForwardResult actual, ForwardResult expected, int offset) {
        for (int b = 0; b < actual.logits().length; b++) {
            for (int q = 0; q < actual.logits()[b].length; q++) {
                assertThat(maxAbsDiff(actual.logits(b, q), expected.logits(b, offset + q)))
                        .as("%s: row %d position %d", what, b, offset + q).isLessThanOrEqualTo(TOL);
            }
        }
    }
}
