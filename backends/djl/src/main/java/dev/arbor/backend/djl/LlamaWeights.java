package dev.arbor.backend.djl;

import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cReferenceModel;

/**
 * A llama2.c checkpoint rearranged for few, large tensor operations per decode step (the tiny models Arbor serves
 * are bound by per-operation dispatch cost, not arithmetic). Every rearrangement is exact algebra on run.c's forward:
 * <ul>
 *   <li>matrices are transposed to [in, out] so activations multiply from the left ({@code x @ W});</li>
 *   <li>the RMSNorm weight is folded into the rows of the matrix that follows the norm
 *       ({@code (w * n) @ W = n @ (diag(w) W)});</li>
 *   <li>q, k and v come from one matmul, together with the "pair-rotated" q and k that rotary embedding needs:
 *       run.c rotates each pair (x0, x1) to (x0 cos - x1 sin, x0 sin + x1 cos), which is
 *       {@code x * C + (x @ P) * S} for the signed pair permutation P; {@code x @ P = n @ (W P)}, so the columns of
 *       {@code W P} are appended to the fused matrix and RoPE becomes two multiplies and an add;</li>
 *   <li>the attention scale 1/sqrt(head_size) is folded into the q columns (RoPE is linear);</li>
 *   <li>the SwiGLU gate and up projections (w1, w3) share one matmul.</li>
 * </ul>
 * Float rounding therefore differs from run.c's loop order in the last bits; tests hold logits to 1e-4 of the
 * ONNX Runtime backend and greedy output byte for byte to llama2.c's.
 */
final class LlamaWeights {
    final Llama2cConfig config;
    final int dim;
    final int kvDim;
    final int hidden;
    /** Width of the fused projection: q, k, v, rotated q, rotated k. */
    final int fusedWidth;
    final float[] embedding;      // [vocab, dim]
    final float[][] qkv;          // per layer [dim, fusedWidth], rms_att folded in
    final float[][] wo;           // per layer [dim, dim]
    final float[][] w13;          // per layer [dim, 2 * hidden], rms_ffn folded in; gate columns first
    final float[][] w2;           // per layer [hidden, dim]
    final float[] classifier;     // [dim, vocab], rms_final folded in
    final float[] ropeCos;        // [seq_len, dim + kvDim]: run.c's cos(pos * freq) per column of q|k
    final float[] ropeSin;        // [seq_len, dim + kvDim]

    LlamaWeights(Llama2cCheckpoint ckpt) {
        this.config = ckpt.config();
        this.dim = config.dim();
        this.kvDim = config.kvDim();
        this.hidden = config.hiddenDim();
        this.fusedWidth = 2 * dim + 3 * kvDim;
        int layers = config.nLayers();
        this.embedding = ckpt.tokenEmbedding();
        this.qkv = new float[layers][];
        this.wo = new float[layers][];
        this.w13 = new float[layers][];
        this.w2 = new float[layers][];
        float scale = 1.0f / (float) Math.sqrt(config.headSize());
        for (int l = 0; l < layers; l++) {
            float[] rmsAtt = ckpt.rmsAtt(l);
            float[] fused = new float[dim * fusedWidth];
            // column blocks: [0,dim) q | [dim,dim+kv) k | v | rotated q | rotated k
            putTransposed(fused, fusedWidth, 0, ckpt.wq(l), dim, dim, rmsAtt, scale, false);
            putTransposed(fused, fusedWidth, dim, ckpt.wk(l), kvDim, dim, rmsAtt, 1f, false);
            putTransposed(fused, fusedWidth, dim + kvDim, ckpt.wv(l), kvDim, dim, rmsAtt, 1f, false);
            putTransposed(fused, fusedWidth, dim + 2 * kvDim, ckpt.wq(l), dim, dim, rmsAtt, scale, true);
            putTransposed(fused, fusedWidth, 2 * dim + 2 * kvDim, ckpt.wk(l), kvDim, dim, rmsAtt, 1f, true);
            qkv[l] = fused;
            wo[l] = transpose(ckpt.wo(l), dim, dim, null);
            float[] gateUp = new float[dim * 2 * hidden];
            float[] rmsFfn = ckpt.rmsFfn(l);
            putTransposed(gateUp, 2 * hidden, 0, ckpt.w1(l), hidden, dim, rmsFfn, 1f, false);
            putTransposed(gateUp, 2 * hidden, hidden, ckpt.w3(l), hidden, dim, rmsFfn, 1f, false);
            w13[l] = gateUp;
            w2[l] = transpose(ckpt.w2(l), dim, hidden, null);
        }
        this.classifier = transpose(ckpt.wcls(), config.vocabSize(), dim, ckpt.rmsFinal());
        float[][] tables = Llama2cReferenceModel.ropeTables(config);
        int half = config.headSize() / 2;
        int width = dim + kvDim;
        this.ropeCos = new float[config.seqLen() * width];
        this.ropeSin = new float[config.seqLen() * width];
        for (int pos = 0; pos < config.seqLen(); pos++) {
            for (int c = 0; c < width; c++) {
                int j = ((c < dim ? c : c - dim) % config.headSize()) / 2;
                ropeCos[pos * width + c] = tables[0][pos * half + j];
                ropeSin[pos * width + c] = tables[1][pos * half + j];
            }
        }
    }

    /**
     * Writes {@code w} ([out, in] row-major, run.c's layout) transposed into columns {@code col..col+out} of
     * {@code dst} ([in, dstWidth]), scaling row i by {@code rowScale[i]} and every value by {@code scale}; with
     * {@code rotate}, column pair (2p, 2p+1) becomes (-w[2p+1], w[2p]) so that {@code x @ dst = rot(x @ W^T)}.
     */
    private static void putTransposed(float[] dst, int dstWidth, int col, float[] w, int out, int in,
                                      float[] rowScale, float scale, boolean rotate) {
        for (int o = 0; o < out; o++) {
            int src = o;
            float sign = 1f;
            if (rotate) {
                boolean even = o % 2 == 0;
                src = even ? o + 1 : o - 1;
                sign = even ? -1f : 1f;
            }
            for (int i = 0; i < in; i++) {
                dst[i * dstWidth + col + o] = sign * scale * rowScale[i] * w[src * in + i];
            }
        }
    }

    /** {@code w} [out, in] as [in, out], row i scaled by {@code rowScale[i]} when given. */
    private static float[] transpose(float[] w, int out, int in, float[] rowScale) {
        float[] t = new float[in * out];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                t[i * out + o] = (rowScale == null ? 1f : rowScale[i]) * w[o * in + i];
            }
        }
        return t;
    }
}
