package dev.arbor.backend.onnxruntime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.TensorInfo;
import dev.arbor.api.ArborException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link DecoderSignature} on declared inputs and outputs alone (no graph): the fused convention and its errors, and
 * the inputs_embeds convention.
 */
class FusedSignatureTest {
    private static final Path FILE = Path.of("model.onnx");

    private static NodeInfo info(String name, OnnxJavaType type, long... shape) {
        try {
            int n = 1;
            for (long d : shape) {
                n *= (int) Math.max(d, 1);
            }
            ByteBuffer b = ByteBuffer.allocateDirect(n * 8).order(ByteOrder.nativeOrder());
            java.nio.Buffer buf = switch (type) {
                case INT64 -> b.asLongBuffer();
                case INT32 -> b.asIntBuffer();
                default -> b.asFloatBuffer();
            };
            return new NodeInfo(name, TensorInfo.constructFromBuffer(buf.limit(n), shape, type));
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A fused graph's inputs (two layers), with {@code edit} applied. */
    private static Map<String, NodeInfo> inputs(java.util.function.Consumer<Map<String, NodeInfo>> edit) {
        Map<String, NodeInfo> in = new LinkedHashMap<>();
        in.put("input_ids", info("input_ids", OnnxJavaType.INT64, 1, 1));
        in.put("position_ids", info("position_ids", OnnxJavaType.INT64, 1, 1));
        in.put("seqlens_k", info("seqlens_k", OnnxJavaType.INT32, 1));
        in.put("total_sequence_length", info("total_sequence_length", OnnxJavaType.INT32));
        for (int l = 0; l < 2; l++) {
            for (String kv : new String[] {"key", "value"}) {
                String name = "past_key_values." + l + "." + kv;
                in.put(name, info(name, OnnxJavaType.FLOAT, 1, 2, 4, 8));
            }
        }
        edit.accept(in);
        return in;
    }

    private static Map<String, NodeInfo> outputs() {
        Map<String, NodeInfo> out = new LinkedHashMap<>();
        out.put("logits", info("logits", OnnxJavaType.FLOAT, 1, 1, 16));
        for (int l = 0; l < 2; l++) {
            for (String kv : new String[] {"key", "value"}) {
                String name = "present." + l + "." + kv;
                out.put(name, info(name, OnnxJavaType.FLOAT, 1, 2, 4, 8));
            }
        }
        return out;
    }

    @Test
    void seqlensAndTotalLengthMakeAGraphFused() {
        DecoderSignature sig = DecoderSignature.detect(FILE, inputs(m -> { }), outputs(), -1, -1);
        assertThat(sig.fused).isTrue();
        assertThat(sig.totalRank).isZero();
        assertThat(sig.layers).isEqualTo(2);
        assertThat(sig.kvHeads).isEqualTo(2);
        assertThat(sig.headDim).isEqualTo(8);
        assertThat(sig.describe()).contains("fused");
        assertThat(sig.pastSeqDim).as("declared KV capacity").isEqualTo(4);
        DecoderSignature plain = DecoderSignature.detect(FILE, inputs(m -> {
            m.remove("seqlens_k");
            m.remove("total_sequence_length");
        }), outputs(), -1, -1);
        assertThat(plain.fused).isFalse();
    }

    @Test
    void aHalfFusedGraphNamesTheMissingInput() {
        assertThatThrownBy(() -> DecoderSignature.detect(FILE, inputs(m -> m.remove("total_sequence_length")),
                outputs(), -1, -1)).isInstanceOf(ArborException.class)
                .hasMessageContaining("looks fused (it takes seqlens_k)")
                .hasMessageContaining("no 'total_sequence_length' input");
        assertThatThrownBy(() -> DecoderSignature.detect(FILE, inputs(m -> m.remove("seqlens_k")), outputs(), -1,
                -1)).isInstanceOf(ArborException.class).hasMessageContaining("no 'seqlens_k' input");
    }

    @Test
    void wrongTypesAndAnAttentionMaskAreRefusedByName() {
        assertThatThrownBy(() -> DecoderSignature.detect(FILE, inputs(m -> m.put("seqlens_k",
                info("seqlens_k", OnnxJavaType.INT64, 1))), outputs(), -1, -1))
                .isInstanceOf(ArborException.class).hasMessageContaining("'seqlens_k' has type INT64")
                .hasMessageContaining("expected int32 [batch]");
        assertThatThrownBy(() -> DecoderSignature.detect(FILE, inputs(m -> m.put("total_sequence_length",
                info("total_sequence_length", OnnxJavaType.INT32, 2, 3))), outputs(), -1, -1))
                .isInstanceOf(ArborException.class).hasMessageContaining("expected an int32 scalar");
        assertThatThrownBy(() -> DecoderSignature.detect(FILE, inputs(m -> m.put("attention_mask",
                info("attention_mask", OnnxJavaType.INT64, 1, 1))), outputs(), -1, -1))
                .isInstanceOf(ArborException.class).hasMessageContaining("both attention_mask and seqlens_k");
        assertThatThrownBy(() -> DecoderSignature.detect(FILE, inputs(m -> m.put("cache_position",
                info("cache_position", OnnxJavaType.INT64, 1))), outputs(), -1, -1))
                .isInstanceOf(ArborException.class).hasMessageContaining("cache_position")
                .hasMessageContaining("seqlens_k, total_sequence_length");
    }

    @Test
    void inputsEmbedsReplacesInputIdsOnNonFusedGraphsOnly() {
        java.util.function.Consumer<Map<String, NodeInfo>> embeds = m -> {
            m.remove("input_ids");
            m.put("inputs_embeds", info("inputs_embeds", OnnxJavaType.FLOAT, 1, 1, 32));
        };
        DecoderSignature sig = DecoderSignature.detect(FILE, inputs(embeds.andThen(m -> {
            m.remove("seqlens_k");
            m.remove("total_sequence_length");
        })), outputs(), -1, -1);
        assertThat(sig.embeds).isTrue();
        assertThat(sig.embedsWidth).isEqualTo(32);
        assertThat(sig.idsType).isNull();
        assertThat(sig.describe()).contains("inputs_embeds width 32");
        assertThatThrownBy(() -> DecoderSignature.detect(FILE, inputs(embeds), outputs(), -1, -1))
                .isInstanceOf(ArborException.class).hasMessageContaining("fused but takes inputs_embeds")
                .hasMessageContaining("graph=reference");
        assertThatThrownBy(() -> DecoderSignature.detect(FILE, inputs(m -> m.put("inputs_embeds",
                info("inputs_embeds", OnnxJavaType.FLOAT, 1, 1, 32))), outputs(), -1, -1))
                .isInstanceOf(ArborException.class).hasMessageContaining("both 'input_ids' and 'inputs_embeds'");
        assertThatThrownBy(() -> DecoderSignature.detect(FILE, inputs(m -> m.remove("input_ids")), outputs(), -1, -1))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("neither an 'input_ids' nor an 'inputs_embeds' input");
        assertThatThrownBy(() -> DecoderSignature.detect(FILE, inputs(embeds.andThen(m -> {
            m.remove("seqlens_k");
            m.remove("total_sequence_length");
            m.put("inputs_embeds", info("inputs_embeds", OnnxJavaType.FLOAT, 1, 32));
        })), outputs(), -1, -1)).isInstanceOf(ArborException.class).hasMessageContaining("'inputs_embeds'")
                .hasMessageContaining("expected rank 3");
    }

    @Test
    void fusedKvMustBeNamedPerKeyAndValue() {
        Map<String, NodeInfo> genai = inputs(m -> {
            m.keySet().removeIf(k -> k.startsWith("past_key_values"));
            m.put("past_0", info("past_0", OnnxJavaType.FLOAT, 2, 1, 2, 4, 8));
        });
        Map<String, NodeInfo> out = new LinkedHashMap<>();
        out.put("logits", info("logits", OnnxJavaType.FLOAT, 1, 1, 16));
        out.put("present_0", info("present_0", OnnxJavaType.FLOAT, 2, 1, 2, 4, 8));
        assertThatThrownBy(() -> DecoderSignature.detect(FILE, genai, out, -1, -1))
                .isInstanceOf(ArborException.class).hasMessageContaining("names its KV inputs past_N");
    }
}
