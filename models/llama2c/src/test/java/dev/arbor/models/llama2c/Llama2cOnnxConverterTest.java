package dev.arbor.models.llama2c;

import static dev.arbor.models.llama2c.Stories260K.argmax;
import static dev.arbor.models.llama2c.Stories260K.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs converted models with ONNX Runtime on the flat classpath (telemetry off) against the reference model. */
class Llama2cOnnxConverterTest {
    private static final float TOL = 1e-4f;
    private static final int[] PROMPT = {1, 403, 407, 261, 378, 432, 383, 286};
    private static OrtEnvironment env;
    @TempDir
    static Path cache;
    private static Path converted;
    private static Llama2cReferenceModel reference;

    @BeforeAll
    static void setUp() throws OrtException {
        env = OrtEnvironment.getEnvironment();
        env.setTelemetry(false);
        converted = Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 0, cache);
        reference = Llama2cReferenceModel.open(Stories260K.checkpoint());
    }

    @Test
    void metadataFollowsTheContract() throws OrtException {
        try (OrtSession s = env.createSession(converted.toString(), new OrtSession.SessionOptions())) {
            Map<String, String> meta = s.getMetadata().getCustomMetadata();
            assertThat(meta).containsEntry("arbor.format", "llama2c").containsEntry("arbor.vocab_size", "512")
                    .containsEntry("arbor.max_positions", "512").containsEntry("arbor.hidden_size", "64")
                    .containsEntry("arbor.num_layers", "5").containsEntry("arbor.num_heads", "8")
                    .containsEntry("arbor.num_kv_heads", "4").containsEntry("arbor.head_dim", "8")
                    .containsEntry("arbor.bos_token_id", "1").containsEntry("arbor.eos_token_ids", "1")
                    .containsEntry("arbor.source_sha256", Llama2cOnnxConverter.sha256(Stories260K.checkpoint()));
            assertThat(s.getInputNames()).contains("input_ids", "position_ids", "attention_bias",
                    "past_key_values.0.key", "past_key_values.4.value");
            assertThat(s.getOutputNames()).contains("logits", "present.0.key", "present.4.value");
        }
    }

    @Test
    void kvCachedGreedyReproducesPublishedIdsAndReferenceLogits() throws OrtException {
        int[] expected = Stories260K.expectedIds();
        int[] generated = new int[expected.length];
        try (OrtSession s = env.createSession(converted.toString(), new OrtSession.SessionOptions());
             DecodeState refState = reference.newState(1)) {
            ReferenceGraphDecoder dec = new ReferenceGraphDecoder(env, s, 5, 4, 8);
            int token = 1;
            float worst = 0;
            for (int step = 0; step < expected.length; step++) {
                float[][][] logits = dec.step(new int[][] {{token}}, new int[][] {{step}}, zeros(1, 1, step + 1));
                float[] ref = reference.forward(ForwardRequest.next(new int[][] {{token}}, refState)).last(0);
                worst = Math.max(worst, maxAbsDiff(logits[0][0], ref));
                token = argmax(logits[0][0]);
                generated[step] = token;
            }
            dec.close();
            assertThat(generated).containsExactly(expected);
            assertThat(worst).as("max |onnx - reference| over 200 steps").isLessThanOrEqualTo(TOL);
        }
    }

    @Test
    void causalPrefillThenCachedStepsMatchReference() throws OrtException {
        try (OrtSession s = env.createSession(converted.toString(), new OrtSession.SessionOptions())) {
            ReferenceGraphDecoder dec = new ReferenceGraphDecoder(env, s, 5, 4, 8);
            int n = PROMPT.length;
            float[][][] logits = dec.step(new int[][] {PROMPT}, new int[][] {iota(0, n)}, causal(n, 0));
            ForwardResult ref = reference.forward(ForwardRequest.builder(new int[][] {PROMPT}).build());
            for (int q = 0; q < n; q++) {
                assertThat(maxAbsDiff(logits[0][q], ref.logits(0, q))).as("row %d", q).isLessThanOrEqualTo(TOL);
            }
            // Two more tokens in one cached call: a 2-token query over 8 past slots.
            float[][][] more = dec.step(new int[][] {{376, 298}}, new int[][] {{n, n + 1}}, causal(2, n));
            ForwardResult ref2 = reference.forward(ForwardRequest.builder(new int[][] {concat(PROMPT, 376, 298)})
                    .logitRows(new int[][] {{n, n + 1}}).build());
            assertThat(maxAbsDiff(more[0][0], ref2.logits(0, 0))).isLessThanOrEqualTo(TOL);
            assertThat(maxAbsDiff(more[0][1], ref2.logits(0, 1))).isLessThanOrEqualTo(TOL);
            dec.close();
        }
    }

    @Test
    void fullAttentionBiasMatchesReferenceFullAttention() throws OrtException {
        try (OrtSession s = env.createSession(converted.toString(), new OrtSession.SessionOptions())) {
            ReferenceGraphDecoder dec = new ReferenceGraphDecoder(env, s, 5, 4, 8);
            int n = PROMPT.length;
            float[][][] logits = dec.step(new int[][] {PROMPT}, new int[][] {iota(0, n)}, zeros(1, n, n));
            ForwardResult ref = reference.forward(ForwardRequest.builder(new int[][] {PROMPT})
                    .attention(AttentionSpec.FULL).build());
            ForwardResult causal = reference.forward(ForwardRequest.builder(new int[][] {PROMPT}).build());
            for (int q = 0; q < n; q++) {
                assertThat(maxAbsDiff(logits[0][q], ref.logits(0, q))).as("row %d", q).isLessThanOrEqualTo(TOL);
            }
            assertThat(maxAbsDiff(logits[0][0], causal.logits(0, 0))).isGreaterThan(1e-2f);
            dec.close();
        }
    }

    @Test
    void keepTwoLayersMatchesReferenceRestrictedToTwoLayers() throws OrtException {
        Path two = Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 2, cache);
        assertThat(two).isNotEqualTo(converted);
        Llama2cReferenceModel draft = new Llama2cReferenceModel(reference.weights().withLayers(2), "draft");
        try (OrtSession s = env.createSession(two.toString(), new OrtSession.SessionOptions())) {
            assertThat(s.getMetadata().getCustomMetadata()).containsEntry("arbor.num_layers", "2");
            assertThat(s.getInputNames()).hasSize(3 + 2 * 2);
            ReferenceGraphDecoder dec = new ReferenceGraphDecoder(env, s, 2, 4, 8);
            int n = PROMPT.length;
            float[][][] logits = dec.step(new int[][] {PROMPT}, new int[][] {iota(0, n)}, causal(n, 0));
            ForwardResult ref = draft.forward(ForwardRequest.builder(new int[][] {PROMPT}).build());
            ForwardResult full = reference.forward(ForwardRequest.builder(new int[][] {PROMPT}).build());
            for (int q = 0; q < n; q++) {
                assertThat(maxAbsDiff(logits[0][q], ref.logits(0, q))).as("row %d", q).isLessThanOrEqualTo(TOL);
            }
            assertThat(maxAbsDiff(logits[0][n - 1], full.logits(0, n - 1))).isGreaterThan(1e-2f);
            dec.close();
        }
    }

    @Test
    void unsharedGqaRandomModelWithBatchMatchesReference(@TempDir Path dir) throws OrtException, IOException {
        Llama2cConfig cfg = new Llama2cConfig(32, 40, 2, 4, 2, 60, 32, false);
        Llama2cCheckpoint w = Llama2cCheckpoint.random(cfg, 11);
        Path file = dir.resolve("random.onnx");
        Files.write(file, Llama2cOnnxConverter.toOnnx(w, 0, "none"));
        Llama2cReferenceModel ref = new Llama2cReferenceModel(w, "random");
        try (OrtSession s = env.createSession(file.toString(), new OrtSession.SessionOptions())) {
            ReferenceGraphDecoder dec = new ReferenceGraphDecoder(env, s, 2, 2, 8);
            int[][] tokens = {{1, 5, 9, 33}, {1, 59, 2, 7}};
            float[] bias = new float[2 * 4 * 4];
            float[] one = causal(4, 0);
            System.arraycopy(one, 0, bias, 0, 16);
            System.arraycopy(one, 0, bias, 16, 16);
            float[][][] logits = dec.step(tokens, new int[][] {iota(0, 4), iota(0, 4)}, bias);
            ForwardResult r = ref.forward(ForwardRequest.builder(tokens).build());
            for (int b = 0; b < 2; b++) {
                for (int q = 0; q < 4; q++) {
                    assertThat(maxAbsDiff(logits[b][q], r.logits(b, q))).isLessThanOrEqualTo(TOL);
                }
            }
            dec.close();
        }
    }

    @Test
    void secondConvertCachedCallReturnsTheCachedFileWithoutRewriting() throws IOException {
        FileTime old = FileTime.fromMillis(1_000_000_000_000L);
        Files.setLastModifiedTime(converted, old);
        Path again = Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 0, cache);
        assertThat(again).isEqualTo(converted);
        assertThat(Files.getLastModifiedTime(again)).isEqualTo(old);
        assertThat(converted.getFileName().toString())
                .contains(Llama2cOnnxConverter.sha256(Stories260K.checkpoint())).endsWith(".onnx");
        try (var files = Files.list(cache)) {
            assertThat(files.filter(p -> p.toString().endsWith(".tmp"))).isEmpty();
        }
    }

    @Test
    void scaleCausalCardsAndTheInputEmbedsOptionGiveTheInputsEmbedsGraph(@TempDir Path dir) throws IOException,
            OrtException {
        Path checkpoint = dir.resolve("var.bin");
        RandomLlama2cCheckpoint.write(new Llama2cConfig(32, 48, 1, 4, 2, 545, 16, false), 5, checkpoint);
        Path tokens = Llama2cOnnxConverter.convertCached(checkpoint, 0, dir.resolve("cache"));
        Path embeds = Llama2cOnnxConverter.convertCached(checkpoint, 0, dir.resolve("cache"),
                Llama2cPrecision.REFERENCE_FP32, true);
        assertThat(embeds).isNotEqualTo(tokens);
        assertThat(embeds.getFileName().toString()).contains("-embeds");
        assertThat(inputs(tokens)).startsWith("input_ids").doesNotContain("inputs_embeds");
        assertThat(inputs(embeds)).startsWith("inputs_embeds").doesNotContain("input_ids");
        try (OrtSession s = env.createSession(embeds.toString(), new OrtSession.SessionOptions())) {
            var info = (ai.onnxruntime.TensorInfo) s.getInputInfo().get("inputs_embeds").getInfo();
            assertThat(info.getShape()).containsExactly(-1, -1, 32);
            assertThat(info.type).isEqualTo(ai.onnxruntime.OnnxJavaType.FLOAT);
        }

        // A SCALE_CAUSAL card implies the embeddings graph; the fused graph cannot take embeddings either way.
        Files.writeString(Llama2cModelCard.sidecarOf(checkpoint), "{\"attention\": \"SCALE_CAUSAL\", "
                + "\"alignment\": \"SAME\"}");
        assertThat(inputs(Llama2cOnnxConverter.convertCached(checkpoint, 0, dir.resolve("cache"))))
                .startsWith("inputs_embeds");
        assertThatThrownBy(() -> Llama2cOnnxConverter.convertCached(checkpoint, 0, dir.resolve("cache"),
                Llama2cPrecision.of("fused", "fp32"))).isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("SCALE_CAUSAL").hasMessageContaining("graph=reference");
        Files.delete(Llama2cModelCard.sidecarOf(checkpoint));
        assertThatThrownBy(() -> Llama2cOnnxConverter.convertCached(checkpoint, 0, dir.resolve("cache"),
                Llama2cPrecision.of("fused", "fp32"), true)).isInstanceOf(ArborException.class)
                .hasMessageContaining("input_embeds=true").hasMessageContaining("graph=reference");
    }

    private static java.util.List<String> inputs(Path onnx) throws IOException {
        return ai.onnx.proto.OnnxMl.ModelProto.parseFrom(Files.readAllBytes(onnx)).getGraph().getInputList().stream()
                .map(ai.onnx.proto.OnnxMl.ValueInfoProto::getName).toList();
    }

    @Test
    void truncatedCheckpointIsABadModelNamingTheFile(@TempDir Path dir) throws IOException {
        byte[] raw = Files.readAllBytes(Stories260K.checkpoint());
        Path cut = dir.resolve("stories-cut.bin");
        Files.write(cut, Arrays.copyOf(raw, raw.length - 100));
        assertThatThrownBy(() -> Llama2cOnnxConverter.convertCached(cut, 0, dir.resolve("cache")))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining(cut.toString()).hasMessageContaining("truncated");
        assertThatThrownBy(() -> Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 6, dir))
                .isInstanceOf(ArborException.class).hasMessageContaining("keepLayers");
    }

    /** A [1, 1, n, past + n] causal bias: new token q sees every past slot and new tokens 0..q. */
    static float[] causal(int n, int past) {
        int total = past + n;
        float[] bias = new float[n * total];
        for (int q = 0; q < n; q++) {
            for (int k = 0; k < total; k++) {
                bias[q * total + k] = k <= past + q ? 0f : Llama2cOnnxConverter.HIDDEN_BIAS;
            }
        }
        return bias;
    }

    private static float[] zeros(int batch, int seq, int total) {
        return new float[batch * seq * total];
    }

    private static int[] iota(int from, int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = from + i;
        }
        return out;
    }

    private static int[] concat(int[] a, int... b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
