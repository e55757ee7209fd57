package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The llama2.c transformer (Touvron et al. 2023, as Karpathy's run.c computes it) in DJL NDArray operations with
 * autograd, for training: RMSNorm with eps 1e-5, rotary embeddings (Su et al. 2021) on interleaved pairs with
 * run.c's float frequencies and explicit position ids, multi-head attention with an additive bias (the mask),
 * SwiGLU feed-forward (Shazeer 2020), shared or separate classifier. The weights are exactly the tensors of a
 * llama2.c checkpoint, so {@link #writeCheckpoint} is a plain dump and the exported model reproduces these logits.
 */
public final class LlamaNet implements AutoCloseable {
    private static final float RMS_EPS = 1e-5f;

    private final Llama2cConfig cfg;
    private final NDManager manager;
    private final NDArray emb;
    private final NDArray[] rmsAtt;
    private final NDArray[] wq;
    private final NDArray[] wk;
    private final NDArray[] wv;
    private final NDArray[] wo;
    private final NDArray[] rmsFfn;
    private final NDArray[] w1;
    private final NDArray[] w2;
    private final NDArray[] w3;
    private final NDArray rmsFinal;
    private final NDArray wcls;
    private final float[] ropeCos;
    private final float[] ropeSin;

    private LlamaNet(Llama2cConfig cfg, NDManager manager, Llama2cCheckpoint w) {
        this.cfg = cfg;
        this.manager = manager;
        int l = cfg.nLayers();
        int d = cfg.dim();
        int h = cfg.hiddenDim();
        emb = param(w.tokenEmbedding(), cfg.vocabSize(), d);
        rmsAtt = new NDArray[l];
        wq = new NDArray[l];
        wk = new NDArray[l];
        wv = new NDArray[l];
        wo = new NDArray[l];
        rmsFfn = new NDArray[l];
        w1 = new NDArray[l];
        w2 = new NDArray[l];
        w3 = new NDArray[l];
        for (int i = 0; i < l; i++) {
            rmsAtt[i] = param(w.rmsAtt(i), d);
            wq[i] = param(w.wq(i), d, d);
            wk[i] = param(w.wk(i), cfg.kvDim(), d);
            wv[i] = param(w.wv(i), cfg.kvDim(), d);
            wo[i] = param(w.wo(i), d, d);
            rmsFfn[i] = param(w.rmsFfn(i), d);
            w1[i] = param(w.w1(i), h, d);
            w2[i] = param(w.w2(i), d, h);
            w3[i] = param(w.w3(i), h, d);
        }
        rmsFinal = param(w.rmsFinal(), d);
        wcls = cfg.sharedClassifier() ? null : param(w.wcls(), cfg.vocabSize(), d);
        float[][] tables = Llama2cReferenceModel.ropeTables(cfg);
        ropeCos = tables[0];
        ropeSin = tables[1];
    }

    /** A network holding {@code weights} (e.g. a checkpoint read back from disk). */
    public static LlamaNet of(Llama2cCheckpoint weights, NDManager manager) {
        return new LlamaNet(weights.config(), manager, weights);
    }

    /**
     * Fresh weights from {@code seed}: matrices normal(0, 0.02), the residual projections wo and w2 scaled by
     * 1/sqrt(2 n_layers) (GPT-2, Radford et al. 2019, as llama2.c's train.py does), norm weights 1.
     */
    public static LlamaNet init(Llama2cConfig cfg, long seed, NDManager manager) {
        Random rng = new Random(seed);
        Llama2cCheckpoint shapes = Llama2cCheckpoint.random(cfg, seed);
        float resid = (float) (0.02 / Math.sqrt(2.0 * cfg.nLayers()));
        LlamaNet net = new LlamaNet(cfg, manager, shapes);
        for (NDArray p : net.parameters()) {
            float[] v = new float[Math.toIntExact(p.size())];
            if (p.getShape().dimension() == 1) {
                java.util.Arrays.fill(v, 1f);
            } else {
                boolean residual = isIn(p, net.wo) || isIn(p, net.w2);
                float std = residual ? resid : 0.02f;
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) rng.nextGaussian() * std;
                }
            }
            p.set(v);
        }
        return net;
    }

    private static boolean isIn(NDArray p, NDArray[] arrays) {
        for (NDArray a : arrays) {
            if (a == p) {
                return true;
            }
        }
        return false;
    }

    private NDArray param(float[] values, long... shape) {
        NDArray a = manager.create(values, new Shape(shape));
        a.setRequiresGradient(true);
        return a;
    }

    public Llama2cConfig config() {
        return cfg;
    }

    /** Every trainable tensor, in checkpoint order. */
    public List<NDArray> parameters() {
        List<NDArray> out = new ArrayList<>();
        out.add(emb);
        for (NDArray[] group : new NDArray[][] {rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3}) {
            out.addAll(List.of(group));
        }
        out.add(rmsFinal);
        if (wcls != null) {
            out.add(wcls);
        }
        return out;
    }

    /** Number of trainable values (the shared classifier counted once). */
    public long parameterCount() {
        long n = 0;
        for (NDArray p : parameters()) {
            n += p.size();
        }
        return n;
    }

    /**
     * Logits [B, T, vocab] for {@code tokens} [B][T] at {@code positions} [B][T]; {@code bias} is an additive
     * attention bias broadcastable to [B, heads, T, T] (0 = visible, a large negative number = hidden), or null for
     * full (bidirectional) attention. Intermediates are attached to {@code scope}.
     */
    public NDArray forward(NDManager scope, int[][] tokens, int[][] positions, NDArray bias) {
        int b = tokens.length;
        int t = tokens[0].length;
        long[] ids = new long[b * t];
        for (int r = 0; r < b; r++) {
            for (int j = 0; j < t; j++) {
                ids[r * t + j] = tokens[r][j];
            }
        }
        NDArray idx = scope.create(ids, new Shape(b, t));
        NDArray x = scoped(scope, emb.get(idx.flatten())).reshape(b, t, cfg.dim());
        return layers(scope, x, positions, bias);
    }

    /**
     * Logits [B, T, vocab] for input embeddings that are mixtures of embedding rows, {@code x = weights · E}:
     * {@code weights} [B, T, vocab] (a one-hot row is exactly the token path's input), so the gradient reaches the
     * embedding table and the exported table is all a backend needs to rebuild the input (VAR's next-scale inputs,
     * see {@link NextScaleObjective}). Positions and bias as {@link #forward}.
     */
    public NDArray forwardMixture(NDManager scope, NDArray weights, int[][] positions, NDArray bias) {
        return layers(scope, weights.matMul(emb), positions, bias);
    }

    /** The transformer on input embeddings x [B, T, dim]: the layers, the final norm and the classifier. */
    private NDArray layers(NDManager scope, NDArray x, int[][] positions, NDArray bias) {
        Shape xs = x.getShape();
        int b = Math.toIntExact(xs.get(0));
        int t = Math.toIntExact(xs.get(1));
        int d = cfg.dim();
        int heads = cfg.nHeads();
        int hs = cfg.headSize();
        int half = hs / 2;
        float[] cos = new float[b * t * half];
        float[] sin = new float[b * t * half];
        for (int r = 0; r < b; r++) {
            for (int j = 0; j < t; j++) {
                int pos = positions[r][j];
                System.arraycopy(ropeCos, pos * half, cos, (r * t + j) * half, half);
                System.arraycopy(ropeSin, pos * half, sin, (r * t + j) * half, half);
            }
        }
        NDArray c = scope.create(cos, new Shape(b, t, 1, half));
        NDArray s = scope.create(sin, new Shape(b, t, 1, half));
        NDArray scale = constant(scope, (float) (1 / Math.sqrt(hs)));
        NDArray eps = constant(scope, RMS_EPS);
        NDArray minusHalf = constant(scope, -0.5f);
        for (int l = 0; l < cfg.nLayers(); l++) {
            NDArray xn = rmsNorm(x, rmsAtt[l], eps, minusHalf);
            NDArray q = rope(linear(scope, xn, wq[l]).reshape(b, t, heads, hs), c, s).transpose(0, 2, 1, 3);
            NDArray k = rope(linear(scope, xn, wk[l]).reshape(b, t, heads, hs), c, s).transpose(0, 2, 1, 3);
            NDArray v = linear(scope, xn, wv[l]).reshape(b, t, heads, hs).transpose(0, 2, 1, 3);
            NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)).mul(scale);   // not mul(float): see constant()
            if (bias != null) {
                scores = scores.add(bias);
            }
            NDArray att = scores.softmax(-1).matMul(v).transpose(0, 2, 1, 3).reshape(b, t, d);
            x = x.add(linear(scope, att, wo[l]));
            NDArray xf = rmsNorm(x, rmsFfn[l], eps, minusHalf);
            NDArray g = linear(scope, xf, w1[l]);
            NDArray hidden = Activation.sigmoid(g).mul(g).mul(linear(scope, xf, w3[l]));
            x = x.add(linear(scope, hidden, w2[l]));
        }
        x = rmsNorm(x, rmsFinal, eps, minusHalf);
        return linear(scope, x, wcls != null ? wcls : emb);
    }

    /** x @ w^T. The transposed view is an op on a parameter, which DJL attaches to the parameter's manager. */
    private static NDArray linear(NDManager scope, NDArray x, NDArray w) {
        return x.matMul(scoped(scope, w.transpose()));
    }

    /** Moves an intermediate created from a parameter into the step's scope, so closing the scope frees it. */
    private static NDArray scoped(NDManager scope, NDArray a) {
        a.attach(scope);
        return a;
    }

    private static NDArray rmsNorm(NDArray x, NDArray w, NDArray eps, NDArray minusHalf) {
        NDArray ms = x.square().mean(new int[] {-1}, true).add(eps);
        return x.mul(ms.pow(minusHalf)).mul(w);
    }

    /**
     * A scalar for the differentiable graph, owned by {@code scope}. Never use DJL's {@code mul(Number)},
     * {@code div(Number)}, {@code pow(Number)} and the like on a path that is differentiated: DJL wraps the number
     * in a temporary tensor over a Java direct buffer and closes it right after the op, but autograd keeps that
     * tensor for the backward pass (to compute d(a*s)/da = s); once the garbage collector frees the buffer, the
     * backward reads freed memory and the gradients turn into NaN or 1e17. A scope-owned scalar lives until the
     * step's scope closes, after the backward pass.
     */
    static NDArray constant(NDManager scope, float value) {
        return scope.create(value);
    }

    /** run.c's RoPE: each (even, odd) pair of a head rotated by pos * freq_j. x is [B, T, H, hs]. */
    private static NDArray rope(NDArray x, NDArray cos, NDArray sin) {
        Shape shape = x.getShape();
        NDArray pairs = x.reshape(shape.get(0), shape.get(1), shape.get(2), shape.get(3) / 2, 2);
        NDArray even = pairs.get("..., 0");
        NDArray odd = pairs.get("..., 1");
        NDArray re = even.mul(cos).sub(odd.mul(sin));
        NDArray im = even.mul(sin).add(odd.mul(cos));
        return NDArrays.stack(new NDList(re, im), 4).reshape(shape);
    }

    /** The current weights as a llama2.c checkpoint (copies). */
    public Llama2cCheckpoint toCheckpoint(Path scratch) throws IOException {
        writeCheckpoint(scratch);
        return Llama2cCheckpoint.read(scratch);
    }

    /**
     * Writes the weights in llama2.c's legacy (version 0) checkpoint format, run.c's order: header, embedding,
     * per-layer tensors grouped by kind, final norm, the legacy RoPE tables, then the classifier when unshared
     * (negative vocab_size in the header). Written to a temporary file and moved, so a reader never sees half a file.
     */
    public void writeCheckpoint(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempFile(parent, file.getFileName().toString(), ".tmp");
        try (OutputStream raw = Files.newOutputStream(tmp);
             DataOutputStream out = new DataOutputStream(new BufferedOutputStream(raw, 1 << 20))) {
            ByteBuffer header = ByteBuffer.allocate(Llama2cCheckpoint.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            header.putInt(cfg.dim()).putInt(cfg.hiddenDim()).putInt(cfg.nLayers()).putInt(cfg.nHeads())
                    .putInt(cfg.nKvHeads()).putInt(cfg.sharedClassifier() ? cfg.vocabSize() : -cfg.vocabSize())
                    .putInt(cfg.seqLen());
            out.write(header.array());
            writeFloats(out, emb.toFloatArray());
            for (NDArray[] group : new NDArray[][] {rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3}) {
                for (NDArray a : group) {
                    writeFloats(out, a.toFloatArray());
                }
            }
            writeFloats(out, rmsFinal.toFloatArray());
            writeFloats(out, ropeCos);
            writeFloats(out, ropeSin);
            if (wcls != null) {
                writeFloats(out, wcls.toFloatArray());
            }
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Permissions.readable(file);
    }

    private static void writeFloats(DataOutputStream out, float[] values) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(values);
        out.write(buf.array());
    }

    /** An additive bias [1, 1, T, T] from a visibility predicate; shared by every row and head. */
    public static NDArray bias(NDManager scope, int t, java.util.function.BiPredicate<Integer, Integer> visible) {
        float[] v = new float[t * t];
        for (int q = 0; q < t; q++) {
            for (int k = 0; k < t; k++) {
                v[q * t + k] = visible.test(q, k) ? 0f : -1e9f;
            }
        }
        return scope.create(v, new Shape(1, 1, t, t));
    }

    @Override
    public void close() {
        for (NDArray p : parameters()) {
            p.close();
        }
    }
}
