package dev.arbor.models.llama2c;

import static dev.arbor.models.llama2c.Stories260K.argmax;
import static dev.arbor.models.llama2c.Stories260K.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The fused fp32 graph (contrib operators, shared past/present KV buffer written in place) computes what the
 * reference graph computes: prefill, decode, rows of different lengths in one batch, chunked prefill.
 */
class Llama2cFusedGraphTest {
    private static final float TOL = 1e-4f;
    private static final int[] PROMPT = {1, 403, 407, 261, 378, 432, 383, 286};
    private static OrtEnvironment env;
    @TempDir
    static Path cache;

    @BeforeAll
    static void setUp() throws OrtException {
        env = OrtEnvironment.getEnvironment();
        env.setTelemetry(false);
    }

    static Path model(String which, Llama2cPrecision precision) {
        Path checkpoint = which.equals("stories260K") ? Stories260K.checkpoint() : ArborTinyAr.checkpoint();
        return Llama2cOnnxConverter.convertCached(checkpoint, 0, cache, precision);
    }

    @Test
    void metadataAndSignatureFollowTheFusedContract() throws OrtException {
        try (OrtSession s = env.createSession(model("stories260K", Llama2cPrecision.FUSED_FP32).toString(),
                new OrtSession.SessionOptions())) {
            Map<String, String> meta = s.getMetadata().getCustomMetadata();
            assertThat(meta).containsEntry("arbor.graph", "fused").containsEntry("arbor.precision", "fp32")
                    .containsEntry("arbor.format", "llama2c").containsEntry("arbor.max_positions", "512")
                    .containsEntry("arbor.num_kv_heads", "4").containsEntry("arbor.head_dim", "8");
            assertThat(s.getInputNames()).containsExactlyInAnyOrder("input_ids", "position_ids", "seqlens_k",
                    "total_sequence_length", "attention_bias", "past_key_values.0.key", "past_key_values.0.value",
                    "past_key_values.1.key", "past_key_values.1.value", "past_key_values.2.key",
                    "past_key_values.2.value", "past_key_values.3.key", "past_key_values.3.value",
                    "past_key_values.4.key", "past_key_values.4.value");
            assertThat(s.getOutputNames()).contains("logits", "present.0.key", "present.4.value").hasSize(11);
        }
    }

    /** The pinned present output IS the past input: the new keys land in the caller's buffer, nowhere else. */
    @Test
    void sharedKvBufferIsWrittenInPlaceWithTheReferenceKeys() throws OrtException {
        try (OrtSession fused = env.createSession(model("stories260K", Llama2cPrecision.FUSED_FP32).toString(),
                new OrtSession.SessionOptions());
             OrtSession plain = env.createSession(model("stories260K", Llama2cPrecision.REFERENCE_FP32).toString(),
                     new OrtSession.SessionOptions());
             FusedGraphDecoder dec = new FusedGraphDecoder(env, fused, 1);
             ReferenceGraphDecoder ref = new ReferenceGraphDecoder(env, plain, 5, 4, 8)) {
            int n = PROMPT.length;
            dec.step(new int[][] {PROMPT}, new int[] {n});
            ref.step(new int[][] {PROMPT}, new int[][] {iota(0, n)}, Llama2cOnnxConverterTest.causal(n, 0));
            for (int l = 0; l < 5; l++) {
                for (boolean value : new boolean[] {false, true}) {
                    float[] expected = ref.present(l, value); // [1, 4, n, 8]
                    FloatBuffer buf = dec.buffer(l, value);   // [1, 4, 512, 8]
                    for (int h = 0; h < 4; h++) {
                        float[] got = new float[n * 8];
                        buf.position(h * 512 * 8);
                        buf.get(got);
                        float[] want = Arrays.copyOfRange(expected, h * n * 8, (h + 1) * n * 8);
                        assertThat(maxAbsDiff(got, want)).as("layer %d head %d %s", l, h, value ? "value" : "key")
                                .isLessThanOrEqualTo(TOL);
                        float[] rest = new float[(512 - n) * 8];
                        buf.get(rest);
                        assertThat(rest).as("slots past the row's length stay untouched").containsOnly(0f);
                    }
                }
            }
            // A decode step writes slot n of the same buffer.
            dec.next(376);
            ref.step(new int[][] {{376}}, new int[][] {{n}}, new float[n + 1]);
            float[] expected = ref.present(0, false); // [1, 4, n + 1, 8]
            FloatBuffer buf = dec.buffer(0, false);
            for (int h = 0; h < 4; h++) {
                float[] got = new float[8];
                buf.position((h * 512 + n) * 8);
                buf.get(got);
                float[] want = Arrays.copyOfRange(expected, (h * (n + 1) + n) * 8, (h * (n + 1) + n + 1) * 8);
                assertThat(maxAbsDiff(got, want)).as("decoded key, head %d", h).isLessThanOrEqualTo(TOL);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories260K", "arbor-tiny-ar"})
    void prefillAndTwentyDecodeStepsEqualTheReferenceGraph(String which) throws OrtException {
        try (OrtSession fused = env.createSession(model(which, Llama2cPrecision.FUSED_FP32).toString(),
                new OrtSession.SessionOptions());
             OrtSession plain = env.createSession(model(which, Llama2cPrecision.REFERENCE_FP32).toString(),
                     new OrtSession.SessionOptions());
             FusedGraphDecoder dec = new FusedGraphDecoder(env, fused, 1);
             ReferenceGraphDecoder ref = ReferenceGraphDecoder.of(env, plain)) {
            int n = PROMPT.length;
            float[][][] a = dec.step(new int[][] {PROMPT}, new int[] {n});
            float[][][] b = ref.step(new int[][] {PROMPT}, new int[][] {iota(0, n)},
                    Llama2cOnnxConverterTest.causal(n, 0));
            for (int q = 0; q < n; q++) {
                assertThat(maxAbsDiff(a[0][q], b[0][q])).as("prefill row %d", q).isLessThanOrEqualTo(TOL);
            }
            int token = argmax(b[0][n - 1]);
            for (int step = 0; step < 20; step++) {
                int pos = n + step;
                float[] x = dec.next(token)[0];
                float[] y = ref.step(new int[][] {{token}}, new int[][] {{pos}}, new float[pos + 1])[0][0];
                assertThat(maxAbsDiff(x, y)).as("decode step %d", step).isLessThanOrEqualTo(TOL);
                token = argmax(y);
            }
        }
    }

    /** Three rows of different lengths in one batch: prefill (right-padded), then per-row decode steps. */
    @Test
    void rowsOfDifferentLengthsGetExactlyWhatTheyGetAlone() throws OrtException {
        int[][] prompts = {{1, 403, 407}, PROMPT, {1, 261, 378, 432, 383}};
        int rows = prompts.length;
        int steps = 12;
        float[][][] alone = new float[rows][steps + 1][];
        int[][] tokens = new int[rows][steps + 1];
        try (OrtSession s = env.createSession(model("stories260K", Llama2cPrecision.FUSED_FP32).toString(),
                new OrtSession.SessionOptions())) {
            for (int r = 0; r < rows; r++) {
                try (FusedGraphDecoder one = new FusedGraphDecoder(env, s, 1)) {
                    float[][][] pre = one.step(new int[][] {prompts[r]}, new int[] {prompts[r].length});
                    alone[r][0] = pre[0][prompts[r].length - 1];
                    for (int t = 1; t <= steps; t++) {
                        tokens[r][t] = argmax(alone[r][t - 1]);
                        alone[r][t] = one.next(tokens[r][t])[0];
                    }
                }
            }
            try (FusedGraphDecoder batch = new FusedGraphDecoder(env, s, rows)) {
                int seq = PROMPT.length;
                int[][] padded = new int[rows][seq];
                int[] counts = new int[rows];
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(prompts[r], 0, padded[r], 0, prompts[r].length);
                    counts[r] = prompts[r].length;
                }
                float[][][] pre = batch.step(padded, counts);
                for (int r = 0; r < rows; r++) {
                    assertThat(maxAbsDiff(pre[r][counts[r] - 1], alone[r][0])).as("prefill row %d", r)
                            .isLessThanOrEqualTo(TOL);
                }
                for (int t = 1; t <= steps; t++) {
                    int[] next = new int[rows];
                    for (int r = 0; r < rows; r++) {
                        next[r] = tokens[r][t];
                    }
                    float[][] out = batch.next(next);
                    for (int r = 0; r < rows; r++) {
                        assertThat(maxAbsDiff(out[r], alone[r][t])).as("step %d row %d (length %d)", t, r,
                                batch.length(r)).isLessThanOrEqualTo(TOL);
                    }
                }
            }
        }
    }

    /** A prompt fed in chunks (seq > 1 over a non-empty past) equals the reference graph's one-shot prefill. */
    @Test
    void chunkedPrefillEqualsOneShotPrefill() throws OrtException {
        try (OrtSession fused = env.createSession(model("stories260K", Llama2cPrecision.FUSED_FP32).toString(),
                new OrtSession.SessionOptions());
             OrtSession plain = env.createSession(model("stories260K", Llama2cPrecision.REFERENCE_FP32).toString(),
                     new OrtSession.SessionOptions());
             FusedGraphDecoder dec = new FusedGraphDecoder(env, fused, 1);
             ReferenceGraphDecoder ref = ReferenceGraphDecoder.of(env, plain)) {
            int n = PROMPT.length;
            float[][][] whole = ref.step(new int[][] {PROMPT}, new int[][] {iota(0, n)},
                    Llama2cOnnxConverterTest.causal(n, 0));
            float[][][] first = dec.step(new int[][] {Arrays.copyOfRange(PROMPT, 0, 3)}, new int[] {3});
            float[][][] second = dec.step(new int[][] {Arrays.copyOfRange(PROMPT, 3, 7)}, new int[] {4});
            float[][][] third = dec.step(new int[][] {Arrays.copyOfRange(PROMPT, 7, 8)}, new int[] {1});
            for (int q = 0; q < n; q++) {
                float[] got = q < 3 ? first[0][q] : q < 7 ? second[0][q - 3] : third[0][0];
                assertThat(maxAbsDiff(got, whole[0][q])).as("position %d", q).isLessThanOrEqualTo(TOL);
            }
        }
    }

    /**
     * A speculative tree after the prompt: node 0 at position n, its two children 1 and 2 both at position n + 1;
     * attention_bias hides sibling 1 from node 2. Equals the reference graph given the same tree bias.
     */
    @Test
    void attentionBiasMasksATreeLikeTheReferenceGraph() throws OrtException {
        try (OrtSession fused = env.createSession(model("stories260K", Llama2cPrecision.FUSED_FP32).toString(),
                new OrtSession.SessionOptions());
             OrtSession plain = env.createSession(model("stories260K", Llama2cPrecision.REFERENCE_FP32).toString(),
                     new OrtSession.SessionOptions());
             FusedGraphDecoder dec = new FusedGraphDecoder(env, fused, 1);
             ReferenceGraphDecoder ref = ReferenceGraphDecoder.of(env, plain)) {
            int n = PROMPT.length;
            dec.step(new int[][] {PROMPT}, new int[] {n});
            ref.step(new int[][] {PROMPT}, new int[][] {iota(0, n)}, Llama2cOnnxConverterTest.causal(n, 0));
            int[][] tree = {{376, 298, 301}};
            int[][] positions = {{n, n + 1, n + 1}};
            float[] bias = Llama2cOnnxConverterTest.causal(3, n);
            bias[2 * (n + 3) + n + 1] = Llama2cOnnxConverter.HIDDEN_BIAS;
            float[][][] a = dec.step(tree, new int[] {3}, positions, bias);
            float[][][] b = ref.step(tree, positions, bias);
            for (int q = 0; q < 3; q++) {
                assertThat(maxAbsDiff(a[0][q], b[0][q])).as("tree node %d", q).isLessThanOrEqualTo(TOL);
            }
            float[] unmasked = Llama2cOnnxConverterTest.causal(3, n);
            try (FusedGraphDecoder again = new FusedGraphDecoder(env, fused, 1)) {
                again.step(new int[][] {PROMPT}, new int[] {n});
                float[][][] c = again.step(tree, new int[] {3}, positions, unmasked);
                assertThat(maxAbsDiff(c[0][2], a[0][2])).as("the bias changed node 2").isGreaterThan(1e-3f);
            }
        }
    }

    /** In a batch of rows of different lengths, bias column j is slot j of every row (here hiding slot 1 of row 0). */
    @Test
    void attentionBiasColumnsAreBufferSlotsInEveryRow() throws OrtException {
        int[][] prompts = {{1, 403, 407}, PROMPT};
        try (OrtSession fused = env.createSession(model("stories260K", Llama2cPrecision.FUSED_FP32).toString(),
                new OrtSession.SessionOptions());
             OrtSession plain = env.createSession(model("stories260K", Llama2cPrecision.REFERENCE_FP32).toString(),
                     new OrtSession.SessionOptions());
             FusedGraphDecoder batch = new FusedGraphDecoder(env, fused, 2);
             ReferenceGraphDecoder ref = ReferenceGraphDecoder.of(env, plain)) {
            int n = PROMPT.length;
            int[][] padded = {Arrays.copyOf(prompts[0], n), PROMPT};
            batch.step(padded, new int[] {3, n});
            int total = n + 1;
            float[] bias = new float[2 * total];
            bias[1] = Llama2cOnnxConverter.HIDDEN_BIAS; // row 0 hides slot 1; row 1 sees everything
            float[][][] out = batch.step(new int[][] {{261}, {261}}, new int[] {1, 1}, new int[][] {{3}, {n}}, bias);
            ref.step(new int[][] {prompts[0]}, new int[][] {iota(0, 3)}, Llama2cOnnxConverterTest.causal(3, 0));
            float[] rowBias = {0, Llama2cOnnxConverter.HIDDEN_BIAS, 0, 0};
            float[] expected = ref.step(new int[][] {{261}}, new int[][] {{3}}, rowBias)[0][0];
            assertThat(maxAbsDiff(out[0][0], expected)).isLessThanOrEqualTo(TOL);
        }
    }

    /** A random grouped-query model with its own classifier and a hidden size that is not a multiple of 16. */
    @Test
    void ownClassifierGqaRandomModelBatchEqualsTheReferenceGraph(@TempDir Path dir) throws OrtException {
        Llama2cConfig cfg = new Llama2cConfig(32, 40, 2, 4, 2, 60, 32, false);
        Llama2cCheckpoint w = Llama2cCheckpoint.random(cfg, 11);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(dir.resolve("none.bin"));
        int[][] tokens = {{1, 5, 9, 33}, {1, 59, 2, 7}};
        float[] bias = new float[2 * 16];
        System.arraycopy(Llama2cOnnxConverterTest.causal(4, 0), 0, bias, 0, 16);
        System.arraycopy(Llama2cOnnxConverterTest.causal(4, 0), 0, bias, 16, 16);
        try (OrtSession fused = env.createSession(Llama2cOnnxConverter.toOnnx(w, 0, "t", card,
                Llama2cPrecision.FUSED_FP32), new OrtSession.SessionOptions());
             OrtSession plain = env.createSession(Llama2cOnnxConverter.toOnnx(w, 0, "t", card,
                     Llama2cPrecision.REFERENCE_FP32), new OrtSession.SessionOptions());
             FusedGraphDecoder dec = new FusedGraphDecoder(env, fused, 2);
             ReferenceGraphDecoder ref = ReferenceGraphDecoder.of(env, plain)) {
            float[][][] a = dec.step(tokens, new int[] {4, 4});
            float[][][] b = ref.step(tokens, new int[][] {iota(0, 4), iota(0, 4)}, bias);
            for (int r = 0; r < 2; r++) {
                for (int q = 0; q < 4; q++) {
                    assertThat(maxAbsDiff(a[r][q], b[r][q])).as("row %d position %d", r, q)
                            .isLessThanOrEqualTo(TOL);
                }
            }
        }
    }

    @Test
    void eachPrecisionHasItsOwnCacheEntryAndTheReferenceKeepsItsName(@TempDir Path dir) {
        java.util.Set<Path> files = new java.util.HashSet<>();
        for (Llama2cPrecision p : Llama2cPrecision.values()) {
            Path file = Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 0, dir, p);
            assertThat(Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 0, dir, p)).isEqualTo(file);
            assertThat(file.getFileName().toString()).satisfies(name -> {
                if (p.fused()) {
                    assertThat(name).contains("-fused-" + p.precision() + "-");
                } else {
                    assertThat(name).doesNotContain("fused").isEqualTo(Llama2cOnnxConverter.convertCached(
                            Stories260K.checkpoint(), 0, dir).getFileName().toString());
                }
            });
            files.add(file);
        }
        assertThat(files).hasSize(Llama2cPrecision.values().length);
    }

    static int[] iota(int from, int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = from + i;
        }
        return out;
    }
}
