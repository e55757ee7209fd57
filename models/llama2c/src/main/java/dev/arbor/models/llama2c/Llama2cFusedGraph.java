package dev.arbor.models.llama2c;

import static dev.arbor.models.llama2c.OnnxGraphBuilder.MS_DOMAIN;
import static dev.arbor.models.llama2c.OnnxGraphBuilder.floatAttr;
import static dev.arbor.models.llama2c.OnnxGraphBuilder.intAttr;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import java.util.ArrayList;
import java.util.List;

/**
 * The fused decoder graph of a llama2.c checkpoint, built from ONNX Runtime's contrib operators as
 * onnxruntime-genai's model builder does, computing the same function as the reference graph:
 * <ul>
 *   <li>RMSNorm (eps 1e-5) as {@code SimplifiedLayerNormalization} for the first layer and
 *       {@code com.microsoft.SkipSimplifiedLayerNormalization} (residual add fused; output 3 is the new residual)
 *       everywhere else, including the final norm;</li>
 *   <li>one projection for Q/K/V and one for gate/up (weights concatenated along the output axis), an fp32
 *       {@code MatMul} or a block-quantized {@code com.microsoft.MatMulNBits} (see {@link BlockQuantizedMatrix});</li>
 *   <li>run.c's interleaved RoPE as {@code com.microsoft.RotaryEmbedding} (interleaved=1) on Q and K, fed
 *       {@code position_ids}, so any positions work;</li>
 *   <li>{@code com.microsoft.GroupQueryAttention} (do_rotary=0, scale 1/sqrt(head_dim)) over a past/present KV
 *       buffer of capacity {@code max_positions} per row that may be shared: when the caller passes the same tensor
 *       as {@code past_key_values.i.*} and as the pinned output {@code present.i.*}, the kernel writes the new keys
 *       and values in place at each row's offset ({@code seqlens_k[row] + 1 - seq}); {@code attention_bias} is
 *       added to the scaled scores on top of the kernel's own causal mask (it can hide keys, never reveal later
 *       ones).</li>
 * </ul>
 * The I/O contract is in {@link Llama2cOnnxConverter}.
 */
final class Llama2cFusedGraph {
    /**
     * How MatMulNBits weights are made and computed.
     *
     * @param accuracyLevel MatMulNBits accuracy_level: 0 computes in fp32 on dequantized weights, 4 quantizes the
     *                      activations to int8 per block and runs an int8 GEMM
     * @param blockSize     weights per scale along K (a power of two >= 16); a K that is not a multiple (hidden 172
     *                      of stories260K) is padded
     * @param asymmetric    per-block zero points (min/max range) instead of a range symmetric around zero
     */
    record Quantization(int accuracyLevel, int blockSize, boolean asymmetric) {
        /** The defaults, chosen by measurement (docs/engine.md). */
        static final Quantization DEFAULT = new Quantization(4, 32, false);
    }

    private final OnnxGraphBuilder g = new OnnxGraphBuilder();
    private final Llama2cCheckpoint w;
    private final Llama2cConfig c;
    private final Llama2cPrecision precision;
    private final Quantization quantization;

    private Llama2cFusedGraph(Llama2cCheckpoint w, Llama2cPrecision precision, Quantization quantization) {
        this.w = w;
        this.c = w.config();
        this.precision = precision;
        this.quantization = quantization;
    }

    /** The fused graph of {@code weights} (layers already restricted) at a fused {@code precision}. */
    static GraphProto.Builder build(Llama2cCheckpoint weights, Llama2cPrecision precision,
                                    Quantization quantization) {
        if (!precision.fused()) {
            throw new IllegalArgumentException("not a fused precision: " + precision);
        }
        return new Llama2cFusedGraph(weights, precision, quantization).graph();
    }

    private GraphProto.Builder graph() {
        int dim = c.dim();
        int hs = c.headSize();
        int kv = c.kvDim();
        int hidden = c.hiddenDim();
        int nKv = c.nKvHeads();

        g.input("input_ids", TensorProto.DataType.INT64, "batch", "seq");
        g.input("position_ids", TensorProto.DataType.INT64, "batch", "seq");
        g.input("seqlens_k", TensorProto.DataType.INT32, "batch");
        g.scalarInput("total_sequence_length", TensorProto.DataType.INT32);
        g.input("attention_bias", TensorProto.DataType.FLOAT, "batch", 1, "seq", "total_sequence_length");
        for (int l = 0; l < c.nLayers(); l++) {
            g.input("past_key_values." + l + ".key", TensorProto.DataType.FLOAT, "batch", nKv, "max_positions", hs);
            g.input("past_key_values." + l + ".value", TensorProto.DataType.FLOAT, "batch", nKv, "max_positions", hs);
        }
        g.output("logits", "batch", "seq", c.vocabSize());
        for (int l = 0; l < c.nLayers(); l++) {
            g.output("present." + l + ".key", "batch", nKv, "max_positions", hs);
            g.output("present." + l + ".value", "batch", nKv, "max_positions", hs);
        }

        float[][] rope = Llama2cReferenceModel.ropeTables(c);
        g.floats("cos_cache", rope[0], c.seqLen(), hs / 2);
        g.floats("sin_cache", rope[1], c.seqLen(), hs / 2);
        g.longs("split_qkv", dim, kv, kv);
        g.longs("split_gate_up", hidden, hidden);

        g.floats("token_embedding", w.tokenEmbedding(), c.vocabSize(), dim);
        String residual = g.node("Gather", List.of("token_embedding", "input_ids"));
        String pending = null; // the sublayer output not yet added to the residual
        for (int l = 0; l < c.nLayers(); l++) {
            String p = "layers." + l + ".";
            g.floats(p + "rms_att", w.rmsAtt(l), dim);
            String h;
            if (pending == null) {
                h = g.nodeIn("", "SimplifiedLayerNormalization", List.of(residual, p + "rms_att"),
                        floatAttr("epsilon", Llama2cReferenceModel.RMS_EPS), intAttr("axis", -1),
                        intAttr("stash_type", 1));
            } else {
                String[] normed = skipNorm(residual, pending, p + "rms_att");
                h = normed[0];
                residual = normed[1];
            }
            String qkv = projection(h, p + "qkv", concatRows(w.wq(l), w.wk(l), w.wv(l)), dim + 2 * kv, dim);
            List<String> parts = g.nodes("Split", List.of(qkv, "split_qkv"), 3, intAttr("axis", -1));
            String q = rotary(parts.get(0), c.nHeads());
            String k = rotary(parts.get(1), nKv);
            String attn = g.fresh("attn");
            // inputs 7-9 (cos/sin caches, position_ids) are for do_rotary=1 and stay empty; 10 is the bias
            g.nodeIn(MS_DOMAIN, "GroupQueryAttention", List.of(q, k, parts.get(2),
                            "past_key_values." + l + ".key", "past_key_values." + l + ".value", "seqlens_k",
                            "total_sequence_length", "", "", "", "attention_bias"),
                    List.of(attn, "present." + l + ".key", "present." + l + ".value"),
                    intAttr("num_heads", c.nHeads()), intAttr("kv_num_heads", nKv),
                    floatAttr("scale", (float) (1 / Math.sqrt(hs))), intAttr("do_rotary", 0));
            String o = projection(attn, p + "wo", w.wo(l), dim, dim);

            g.floats(p + "rms_ffn", w.rmsFfn(l), dim);
            String[] normed = skipNorm(residual, o, p + "rms_ffn");
            residual = normed[1];
            String gateUp = projection(normed[0], p + "w13", concatRows(w.w1(l), w.w3(l)), 2 * hidden, dim);
            List<String> gu = g.nodes("Split", List.of(gateUp, "split_gate_up"), 2, intAttr("axis", -1));
            String silu = g.node("Mul", List.of(gu.get(0), g.node("Sigmoid", List.of(gu.get(0)))));
            pending = projection(g.node("Mul", List.of(silu, gu.get(1))), p + "w2", w.w2(l), dim, hidden);
        }
        g.floats("rms_final", w.rmsFinal(), dim);
        String hFinal = skipNorm(residual, pending, "rms_final")[0];
        if (precision.bits() == 0) {
            String wclsT;
            if (c.sharedClassifier()) {
                // As in the reference graph: transpose the embedding in the graph (folded at load) instead of
                // storing it twice.
                wclsT = g.node("Transpose", List.of("token_embedding"), OnnxGraphBuilder.ints("perm", 1, 0));
            } else {
                wclsT = "wcls_t";
                g.floats(wclsT, Llama2cOnnxConverter.transpose(w.wcls(), c.vocabSize(), dim), dim, c.vocabSize());
            }
            g.nodeNamed("MatMul", List.of(hFinal, wclsT), "logits");
        } else {
            // MatMulNBits takes W as [N, K] = [vocab, dim]: the classifier (or shared embedding) as stored.
            quantized(hFinal, "wcls", c.sharedClassifier() ? w.tokenEmbedding() : w.wcls(), c.vocabSize(), dim,
                    "logits");
        }
        return g.finish("llama2c_fused");
    }

    /** RMSNorm of {@code residual + delta} and the sum itself (the next residual): {normed, sum}. */
    private String[] skipNorm(String residual, String delta, String weight) {
        String normed = g.fresh("norm");
        String sum = g.fresh("residual");
        g.nodeIn(MS_DOMAIN, "SkipSimplifiedLayerNormalization", List.of(residual, delta, weight),
                List.of(normed, "", "", sum), floatAttr("epsilon", Llama2cReferenceModel.RMS_EPS));
        return new String[] {normed, sum};
    }

    /** run.c's interleaved RoPE on [batch, seq, heads * head_dim] at {@code position_ids}. */
    private String rotary(String x, int heads) {
        return g.nodeIn(MS_DOMAIN, "RotaryEmbedding", List.of(x, "position_ids", "cos_cache", "sin_cache"),
                intAttr("interleaved", 1), intAttr("num_heads", heads));
    }

    /** {@code x W^T} for W [n, k] row-major (llama2.c's [out, in]), fp32 or quantized as the precision says. */
    private String projection(String x, String name, float[] weight, int n, int k) {
        if (precision.bits() == 0) {
            g.floats(name + "_t", Llama2cOnnxConverter.transpose(weight, n, k), k, n);
            return g.node("MatMul", List.of(x, name + "_t"));
        }
        return quantized(x, name, weight, n, k, g.fresh("matmulnbits"));
    }

    private String quantized(String x, String name, float[] weight, int n, int k, String output) {
        BlockQuantizedMatrix q = BlockQuantizedMatrix.quantize(weight, n, k, precision.bits(),
                quantization.blockSize(), quantization.asymmetric());
        g.bytes(name + "_q", q.packed(), n, q.blocks(), q.blobSize());
        g.floats(name + "_scales", q.scales(), (long) n * q.blocks());
        List<String> inputs = new ArrayList<>(List.of(x, name + "_q", name + "_scales"));
        if (q.zeroPoints() != null) {
            g.bytes(name + "_zero_points", q.zeroPoints(), q.zeroPoints().length);
            inputs.add(name + "_zero_points");
        }
        g.nodeIn(MS_DOMAIN, "MatMulNBits", inputs, List.of(output), intAttr("K", k), intAttr("N", n),
                intAttr("bits", q.bits()), intAttr("block_size", q.blockSize()),
                intAttr("accuracy_level", quantization.accuracyLevel()));
        return output;
    }

    /** Row-major matrices with equal row width stacked along the row (output) axis. */
    private static float[] concatRows(float[]... parts) {
        int total = 0;
        for (float[] p : parts) {
            total += p.length;
        }
        float[] out = new float[total];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
