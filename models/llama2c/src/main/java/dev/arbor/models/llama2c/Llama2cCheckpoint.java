package dev.arbor.models.llama2c;

import dev.arbor.api.ArborException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;

/**
 * The weights of a llama2.c legacy checkpoint, as laid out by llama2.c's run.c ({@code read_checkpoint} and
 * {@code memory_map_weights}): a header of 7 little-endian int32 ({@code dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len}; a negative vocab_size means the classifier is not shared with the token
 * embedding), then float32 tensors in this order: token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim],
 * wk [L, kv_dim, dim], wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim],
 * w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim], the legacy RoPE tables freq_cis_real and freq_cis_imag
 * [seq_len, head_size/2] (skipped: run.c recomputes them), then wcls [vocab, dim] when unshared. Every matrix is
 * row-major [out, in], as run.c's {@code matmul} reads it. Immutable once built.
 */
public final class Llama2cCheckpoint {
    /** Size of the int32 header in bytes. */
    public static final int HEADER_BYTES = 7 * 4;

    private final String source;
    private final Llama2cConfig config;
    private final float[] tokenEmbedding;
    private final float[][] rmsAtt;
    private final float[][] wq;
    private final float[][] wk;
    private final float[][] wv;
    private final float[][] wo;
    private final float[][] rmsFfn;
    private final float[][] w1;
    private final float[][] w2;
    private final float[][] w3;
    private final float[] rmsFinal;
    private final float[] wcls;

    private Llama2cCheckpoint(String source, Llama2cConfig config, float[] tokenEmbedding, float[][] rmsAtt,
                              float[][] wq, float[][] wk, float[][] wv, float[][] wo, float[][] rmsFfn,
                              float[][] w1, float[][] w2, float[][] w3, float[] rmsFinal, float[] wcls) {
        this.source = source;
        this.config = config;
        this.tokenEmbedding = tokenEmbedding;
        this.rmsAtt = rmsAtt;
        this.wq = wq;
        this.wk = wk;
        this.wv = wv;
        this.wo = wo;
        this.rmsFfn = rmsFfn;
        this.w1 = w1;
        this.w2 = w2;
        this.w3 = w3;
        this.rmsFinal = rmsFinal;
        this.wcls = wcls;
    }

    /**
     * Reads and validates a checkpoint file.
     *
     * @throws ArborException (NOT_FOUND) when the file is missing, (BAD_MODEL) for a bad header, a file whose size
     *                        is not exactly what the header implies (truncated or with trailing bytes) or a weight
     *                        that is NaN or infinite
     */
    public static Llama2cCheckpoint read(Path file) {
        String name = file.toString();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < HEADER_BYTES) {
                throw bad(name, "file is truncated: " + size + " bytes, shorter than the " + HEADER_BYTES
                        + "-byte header");
            }
            ByteBuffer header = readFully(ch, HEADER_BYTES, name);
            int dim = header.getInt();
            int hiddenDim = header.getInt();
            int nLayers = header.getInt();
            int nHeads = header.getInt();
            int nKvHeads = header.getInt();
            int rawVocab = header.getInt();
            int seqLen = header.getInt();
            if (rawVocab == Integer.MIN_VALUE) {
                throw bad(name, "header field vocab_size is " + rawVocab);
            }
            Llama2cConfig config = new Llama2cConfig(dim, hiddenDim, nLayers, nHeads, nKvHeads, Math.abs(rawVocab),
                    seqLen, rawVocab > 0);
            config.validate(name);
            long expected = config.fileSize();
            if (size < expected) {
                throw bad(name, "file is truncated: " + size + " bytes, but its header (dim " + dim + ", hidden_dim "
                        + hiddenDim + ", n_layers " + nLayers + ", n_heads " + nHeads + ", n_kv_heads " + nKvHeads
                        + ", vocab_size " + rawVocab + ", seq_len " + seqLen + ") needs exactly " + expected
                        + " bytes");
            }
            if (size > expected) {
                throw bad(name, "file has " + size + " bytes but its header (dim " + dim + ", n_layers " + nLayers
                        + ", vocab_size " + rawVocab + ", seq_len " + seqLen + ") implies exactly " + expected
                        + "; " + (size - expected) + " unexpected trailing bytes (wrong format version?)");
            }
            int d = config.dim();
            int kv = config.kvDim();
            int h = config.hiddenDim();
            int l = config.nLayers();
            float[] emb = floats(ch, (long) config.vocabSize() * d, name, "token_embedding_table");
            float[][] rmsAtt = layers(ch, l, d, name, "rms_att_weight");
            float[][] wq = layers(ch, l, (long) d * d, name, "wq");
            float[][] wk = layers(ch, l, (long) kv * d, name, "wk");
            float[][] wv = layers(ch, l, (long) kv * d, name, "wv");
            float[][] wo = layers(ch, l, (long) d * d, name, "wo");
            float[][] rmsFfn = layers(ch, l, d, name, "rms_ffn_weight");
            float[][] w1 = layers(ch, l, (long) h * d, name, "w1");
            float[][] w2 = layers(ch, l, (long) d * h, name, "w2");
            float[][] w3 = layers(ch, l, (long) h * d, name, "w3");
            float[] rmsFinal = floats(ch, d, name, "rms_final_weight");
            // freq_cis_real and freq_cis_imag: legacy RoPE tables that run.c skips and recomputes.
            ch.position(ch.position() + 4L * config.seqLen() * config.headSize());
            float[] wcls = config.sharedClassifier() ? emb : floats(ch, (long) config.vocabSize() * d, name, "wcls");
            return new Llama2cCheckpoint(name, config, emb, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal,
                    wcls);
        } catch (NoSuchFileException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "llama2.c checkpoint " + name + " does not exist",
                    e);
        } catch (IOException e) {
            throw ArborException.badModel("cannot read llama2.c checkpoint " + name + ": " + e.getMessage(), e);
        }
    }

    /**
     * Random weights for {@code config} (test backends): matrices uniform in +-1/sqrt(fan_in), norm weights near 1,
     * embeddings uniform in +-1; the same seed always gives the same weights.
     */
    public static Llama2cCheckpoint random(Llama2cConfig config, long seed) {
        config.validate("config");
        Random rng = new Random(seed);
        int d = config.dim();
        int kv = config.kvDim();
        int h = config.hiddenDim();
        int l = config.nLayers();
        float[] emb = uniform(rng, (long) config.vocabSize() * d, 1f);
        float[][] rmsAtt = new float[l][];
        float[][] wq = new float[l][];
        float[][] wk = new float[l][];
        float[][] wv = new float[l][];
        float[][] wo = new float[l][];
        float[][] rmsFfn = new float[l][];
        float[][] w1 = new float[l][];
        float[][] w2 = new float[l][];
        float[][] w3 = new float[l][];
        float inD = (float) (1 / Math.sqrt(d));
        float inH = (float) (1 / Math.sqrt(h));
        for (int i = 0; i < l; i++) {
            rmsAtt[i] = nearOne(rng, d);
            wq[i] = uniform(rng, (long) d * d, inD);
            wk[i] = uniform(rng, (long) kv * d, inD);
            wv[i] = uniform(rng, (long) kv * d, inD);
            wo[i] = uniform(rng, (long) d * d, inD);
            rmsFfn[i] = nearOne(rng, d);
            w1[i] = uniform(rng, (long) h * d, inD);
            w2[i] = uniform(rng, (long) d * h, inH);
            w3[i] = uniform(rng, (long) h * d, inD);
        }
        float[] rmsFinal = nearOne(rng, d);
        float[] wcls = config.sharedClassifier() ? emb : uniform(rng, (long) config.vocabSize() * d, inD);
        return new Llama2cCheckpoint("random(seed=" + seed + ")", config, emb, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2,
                w3, rmsFinal, wcls);
    }

    /**
     * The first {@code keepLayers} blocks followed by the final norm and classifier (a layer-skip draft model);
     * 0 keeps every layer. Shares the weight arrays with this checkpoint.
     */
    public Llama2cCheckpoint withLayers(int keepLayers) {
        if (keepLayers < 0 || keepLayers > config.nLayers()) {
            throw ArborException.invalid("keepLayers must be between 0 (all) and " + config.nLayers()
                    + " (the layers of " + source + "), got " + keepLayers);
        }
        if (keepLayers == 0 || keepLayers == config.nLayers()) {
            return this;
        }
        int k = keepLayers;
        return new Llama2cCheckpoint(source + "[layers 0.." + (k - 1) + "]", config.withLayers(k), tokenEmbedding,
                prefix(rmsAtt, k), prefix(wq, k), prefix(wk, k), prefix(wv, k), prefix(wo, k), prefix(rmsFfn, k),
                prefix(w1, k), prefix(w2, k), prefix(w3, k), rmsFinal, wcls);
    }

    /** Where the weights came from (file path or random seed). */
    public String source() {
        return source;
    }

    public Llama2cConfig config() {
        return config;
    }

    /** Token embedding [vocab, dim], row-major; shared array, do not modify. */
    public float[] tokenEmbedding() {
        return tokenEmbedding;
    }

    /** RMSNorm weight before attention of layer {@code l} [dim]; shared array, do not modify. */
    public float[] rmsAtt(int l) {
        return rmsAtt[l];
    }

    /** Query projection of layer {@code l} [dim, dim]. */
    public float[] wq(int l) {
        return wq[l];
    }

    /** Key projection of layer {@code l} [kv_dim, dim]. */
    public float[] wk(int l) {
        return wk[l];
    }

    /** Value projection of layer {@code l} [kv_dim, dim]. */
    public float[] wv(int l) {
        return wv[l];
    }

    /** Attention output projection of layer {@code l} [dim, dim]. */
    public float[] wo(int l) {
        return wo[l];
    }

    /** RMSNorm weight before the feed-forward block of layer {@code l} [dim]. */
    public float[] rmsFfn(int l) {
        return rmsFfn[l];
    }

    /** Gate projection of layer {@code l} [hidden, dim]. */
    public float[] w1(int l) {
        return w1[l];
    }

    /** Down projection of layer {@code l} [dim, hidden]. */
    public float[] w2(int l) {
        return w2[l];
    }

    /** Up projection of layer {@code l} [hidden, dim]. */
    public float[] w3(int l) {
        return w3[l];
    }

    /** Final RMSNorm weight [dim]. */
    public float[] rmsFinal() {
        return rmsFinal;
    }

    /** Classifier [vocab, dim]; the token embedding itself when shared. */
    public float[] wcls() {
        return wcls;
    }

    private static float[][] prefix(float[][] perLayer, int k) {
        float[][] out = new float[k][];
        System.arraycopy(perLayer, 0, out, 0, k);
        return out;
    }

    private static float[][] layers(FileChannel ch, int layers, long perLayer, String file, String tensor)
            throws IOException {
        float[][] out = new float[layers][];
        for (int l = 0; l < layers; l++) {
            out[l] = floats(ch, perLayer, file, tensor + "[" + l + "]");
        }
        return out;
    }

    private static float[] floats(FileChannel ch, long count, String file, String tensor) throws IOException {
        // Java arrays hold at most ~2^31 elements; such a tensor (16 GiB of weights) is beyond a reference model.
        if (count > Integer.MAX_VALUE - 8) {
            throw bad(file, "tensor " + tensor + " has " + count + " values, more than the pure-Java reader's limit of "
                    + (Integer.MAX_VALUE - 8));
        }
        int n = (int) count;
        float[] out = new float[n];
        int done = 0;
        ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        while (done < n) {
            int chunk = Math.min(n - done, buf.capacity() / 4);
            buf.clear().limit(chunk * 4);
            while (buf.hasRemaining()) {
                if (ch.read(buf) < 0) {
                    throw bad(file, "file is truncated inside tensor " + tensor);
                }
            }
            buf.flip();
            buf.asFloatBuffer().get(out, done, chunk);
            requireFinite(out, done, chunk, file, tensor);
            done += chunk;
        }
        return out;
    }

    /**
     * Refuses a non-finite weight at load: a NaN or infinity in a checkpoint (a diverged training run, a corrupt
     * copy) would otherwise surface much later as NaN logits blamed on whatever reads them first.
     */
    private static void requireFinite(float[] values, int from, int count, String file, String tensor) {
        for (int i = from; i < from + count; i++) {
            if (!Float.isFinite(values[i])) {
                throw bad(file, "tensor " + tensor + " holds " + values[i] + " at index " + i + "; a checkpoint's"
                        + " weights must be finite: the file is corrupt or was saved from a diverged training run");
            }
        }
    }

    private static ByteBuffer readFully(FileChannel ch, int bytes, String file) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
        while (buf.hasRemaining()) {
            if (ch.read(buf) < 0) {
                throw bad(file, "file is truncated inside the header");
            }
        }
        return buf.flip();
    }

    private static float[] uniform(Random rng, long count, float scale) {
        float[] out = new float[Math.toIntExact(count)];
        for (int i = 0; i < out.length; i++) {
            out[i] = (rng.nextFloat() * 2 - 1) * scale;
        }
        return out;
    }

    private static float[] nearOne(Random rng, int count) {
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            out[i] = 1 + (rng.nextFloat() - 0.5f) * 0.2f;
        }
        return out;
    }

    private static ArborException bad(String file, String problem) {
        return new ArborException(ArborException.Kind.BAD_MODEL, "llama2.c checkpoint " + file + ": " + problem);
    }
}
