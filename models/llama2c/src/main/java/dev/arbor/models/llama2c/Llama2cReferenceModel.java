package dev.arbor.models.llama2c;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.model.StateWrite;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.EnumSet;
import java.util.OptionalInt;

/**
 * The project's reference model: a pure-Java float32 forward pass of a llama2.c transformer that computes what
 * llama2.c's run.c {@code forward()} computes, in the same operation order (RMSNorm with eps 1e-5 as
 * {@code w * (ss * x)}, {@code matmul} as a left-to-right float dot product, RoPE on interleaved pairs with
 * {@code freq = 1/powf(10000, 2j/head_size)}, scores divided by {@code sqrtf(head_size)}, max-subtracted softmax,
 * SwiGLU {@code w2(silu(w1 x) * w3 x)}, final RMSNorm and classifier), generalised from run.c's one-token step to:
 * <ul>
 *   <li>batches of independent rows and several new tokens per row;</li>
 *   <li>every {@link AttentionSpec}: a query attends, in slot order, to exactly the keys the spec makes visible
 *       (state slots first, then new tokens) and never to padding; a query that sees no key gets a zero attention
 *       output (its logits are meaningless, as for any padding row);</li>
 *   <li>a KV-cache {@link DecodeState} that stores keys after rotary embedding (as run.c's key_cache), with append,
 *       write-at-slots, truncate, compact, fork and row selection.</li>
 * </ul>
 * Positions default to each row's count of valid (non-padding) earlier tokens. Because cached keys are the very
 * floats a recompute produces, the cached and cache-free paths agree bit for bit for the same visible keys.
 * Thread-safe: weights are read-only; each request owns its state.
 */
public final class Llama2cReferenceModel implements ModelBackend, EmbeddingAccess {
    /** run.c's RMSNorm epsilon. */
    static final float RMS_EPS = 1e-5f;

    private final Llama2cCheckpoint weights;
    private final Llama2cConfig cfg;
    private final ModelCard card;
    private final float[] ropeCos;
    private final float[] ropeSin;
    private volatile boolean closed;

    /** A reference model over {@code weights}, shown under {@code name} in its card. */
    public Llama2cReferenceModel(Llama2cCheckpoint weights, String name) {
        this.weights = weights;
        this.cfg = weights.config();
        this.card = new ModelCard(name, cfg.vocabSize(), cfg.seqLen(), cfg.dim(), OptionalInt.of(1), new int[] {1},
                OptionalInt.empty(), OptionalInt.empty(), LogitAlignment.NEXT, NativeAttention.CAUSAL, 0,
                EnumSet.allOf(Capability.class));
        float[][] tables = ropeTables(cfg);
        this.ropeCos = tables[0];
        this.ropeSin = tables[1];
    }

    /** Reads the checkpoint at {@code file} (see {@link Llama2cCheckpoint#read}) into a reference model. */
    public static Llama2cReferenceModel open(Path file) {
        return new Llama2cReferenceModel(Llama2cCheckpoint.read(file), String.valueOf(file.getFileName()));
    }

    /**
     * run.c's rotary tables {cos, sin}, each [seq_len, head_size/2] row-major: angle = pos * freq with
     * {@code freq = 1.0f / powf(10000.0f, (2j) / (float) head_size)}, computed in float as run.c does.
     */
    public static float[][] ropeTables(Llama2cConfig cfg) {
        int half = cfg.headSize() / 2;
        float[] cos = new float[cfg.seqLen() * half];
        float[] sin = new float[cfg.seqLen() * half];
        for (int j = 0; j < half; j++) {
            float freq = 1.0f / (float) Math.pow(10000.0f, (2 * j) / (float) cfg.headSize());
            for (int pos = 0; pos < cfg.seqLen(); pos++) {
                float val = pos * freq;
                cos[pos * half + j] = (float) Math.cos(val);
                sin[pos * half + j] = (float) Math.sin(val);
            }
        }
        return new float[][] {cos, sin};
    }

    /** The weights this model runs. */
    public Llama2cCheckpoint weights() {
        return weights;
    }

    @Override
    public ModelCard card() {
        return card;
    }

    @Override
    public DecodeState newState(int batchSize) {
        ensureOpen();
        if (batchSize < 1) {
            throw ArborException.invalid("batch size must be at least 1, got " + batchSize);
        }
        return new KvState(this, batchSize);
    }

    @Override
    public float[] embedding(int tokenId) {
        checkToken(tokenId);
        float[] out = new float[cfg.dim()];
        System.arraycopy(weights.tokenEmbedding(), tokenId * cfg.dim(), out, 0, cfg.dim());
        return out;
    }

    @Override
    public int embeddingSize() {
        return cfg.dim();
    }

    @Override
    public void close() {
        closed = true;
    }

    @Override
    public ForwardResult forward(ForwardRequest request) {
        ensureOpen();
        int batch = request.batchSize();
        int lq = request.queryLength();
        KvState state = checkState(request.state(), batch);
        int past = state == null ? 0 : state.length;
        checkInputs(request, batch, lq);
        AttentionSpec spec = request.attention();
        boolean[][] newValid = spec instanceof AttentionSpec.WithPadding p ? p.newTokenValid() : null;
        checkSpec(spec.base(), newValid, batch, lq, past);
        int[] writeSlots = checkWrite(request.write(), state, lq, past);
        int[][] logitRows = checkLogitRows(request.logitRows(), batch, lq);

        float[][][] logits = new float[batch][][];
        float[][][] hidden = request.wantHidden() ? new float[batch][][] : null;
        float[][][] newKeys = new float[batch][][];
        float[][][] newValues = new float[batch][][];
        for (int b = 0; b < batch; b++) {
            boolean[] keyValid = new boolean[past + lq];
            for (int k = 0; k < past; k++) {
                keyValid[k] = state.valid[b][k];
            }
            for (int j = 0; j < lq; j++) {
                keyValid[past + j] = newValid == null || newValid[b][j];
            }
            int[] positions = request.positions() != null ? request.positions()[b]
                    : defaultPositions(keyValid, past, lq);
            checkPositions(positions, b, lq);
            boolean[][] visible = visibility(spec.base(), b, lq, past, keyValid);
            float[][] x = new float[lq][];
            for (int j = 0; j < lq; j++) {
                x[j] = request.tokens() != null ? embedding(request.tokens()[b][j])
                        : request.embeddings()[b][j].clone();
            }
            newKeys[b] = new float[cfg.nLayers()][lq * cfg.kvDim()];
            newValues[b] = new float[cfg.nLayers()][lq * cfg.kvDim()];
            for (int l = 0; l < cfg.nLayers(); l++) {
                layer(l, x, positions, visible, past, state == null ? null : state.keys[b][l],
                        state == null ? null : state.values[b][l], newKeys[b][l], newValues[b][l]);
            }
            int[] rows = logitRows == null ? identity(lq) : logitRows[b];
            logits[b] = new float[rows.length][];
            if (hidden != null) {
                hidden[b] = new float[rows.length][];
            }
            for (int r = 0; r < rows.length; r++) {
                float[] h = new float[cfg.dim()];
                rmsnorm(h, x[rows[r]], weights.rmsFinal(), cfg.dim());
                float[] out = new float[cfg.vocabSize()];
                matmul(out, 0, h, 0, weights.wcls(), cfg.dim(), cfg.vocabSize());
                logits[b][r] = out;
                if (hidden != null) {
                    hidden[b][r] = h;
                }
            }
        }
        // Writes happen after every row was computed, so all queries read the state as it was before the request.
        if (state != null && !(request.write() instanceof StateWrite.None)) {
            state.write(writeSlots, newKeys, newValues, newValid, lq);
        }
        return new ForwardResult(logits, hidden);
    }

    /** One transformer block of run.c's forward() over all new tokens of one row; updates {@code x} in place. */
    private void layer(int l, float[][] x, int[] positions, boolean[][] visible, int past, float[] cacheK,
                       float[] cacheV, float[] newK, float[] newV) {
        int dim = cfg.dim();
        int kvDim = cfg.kvDim();
        int hs = cfg.headSize();
        int lq = x.length;
        float[] xb = new float[dim];
        float[][] q = new float[lq][dim];
        for (int j = 0; j < lq; j++) {
            rmsnorm(xb, x[j], weights.rmsAtt(l), dim);
            matmul(q[j], 0, xb, 0, weights.wq(l), dim, dim);
            matmul(newK, j * kvDim, xb, 0, weights.wk(l), dim, kvDim);
            matmul(newV, j * kvDim, xb, 0, weights.wv(l), dim, kvDim);
            rope(q[j], 0, dim, positions[j]);
            rope(newK, j * kvDim, kvDim, positions[j]);
        }
        float scale = (float) Math.sqrt(hs);
        int keys = past + lq;
        float[] att = new float[keys];
        float[] xb2 = new float[dim];
        float[] hb = new float[cfg.hiddenDim()];
        float[] hb2 = new float[cfg.hiddenDim()];
        float[][] attOut = new float[lq][dim];
        for (int j = 0; j < lq; j++) {
            boolean[] vis = visible[j];
            for (int h = 0; h < cfg.nHeads(); h++) {
                int qOff = h * hs;
                int kvOff = (h / cfg.kvMul()) * hs;
                float max = Float.NEGATIVE_INFINITY;
                for (int t = 0; t < keys; t++) {
                    if (!vis[t]) {
                        continue;
                    }
                    float[] kArr = t < past ? cacheK : newK;
                    int kBase = (t < past ? t : t - past) * kvDim + kvOff;
                    float score = 0.0f;
                    for (int i = 0; i < hs; i++) {
                        score += q[j][qOff + i] * kArr[kBase + i];
                    }
                    score /= scale;
                    att[t] = score;
                    max = Math.max(max, score);
                }
                float sum = 0.0f;
                for (int t = 0; t < keys; t++) {
                    if (vis[t]) {
                        att[t] = (float) Math.exp(att[t] - max);
                        sum += att[t];
                    }
                }
                float[] out = attOut[j];
                for (int t = 0; t < keys; t++) {
                    if (!vis[t]) {
                        continue;
                    }
                    float a = att[t] / sum;
                    float[] vArr = t < past ? cacheV : newV;
                    int vBase = (t < past ? t : t - past) * kvDim + kvOff;
                    for (int i = 0; i < hs; i++) {
                        out[qOff + i] += a * vArr[vBase + i];
                    }
                }
            }
        }
        for (int j = 0; j < lq; j++) {
            matmul(xb2, 0, attOut[j], 0, weights.wo(l), dim, dim);
            for (int i = 0; i < dim; i++) {
                x[j][i] += xb2[i];
            }
            rmsnorm(xb, x[j], weights.rmsFfn(l), dim);
            matmul(hb, 0, xb, 0, weights.w1(l), dim, cfg.hiddenDim());
            matmul(hb2, 0, xb, 0, weights.w3(l), dim, cfg.hiddenDim());
            for (int i = 0; i < cfg.hiddenDim(); i++) {
                float val = hb[i];
                val *= (1.0f / (1.0f + (float) Math.exp(-val)));
                val *= hb2[i];
                hb[i] = val;
            }
            matmul(xb, 0, hb, 0, weights.w2(l), cfg.hiddenDim(), dim);
            for (int i = 0; i < dim; i++) {
                x[j][i] += xb[i];
            }
        }
    }

    /** run.c's RoPE on {@code width} values at {@code off}: pairs (i, i+1) rotated by pos * freq(i % head_size). */
    private void rope(float[] vec, int off, int width, int pos) {
        int hs = cfg.headSize();
        int half = hs / 2;
        for (int i = 0; i < width; i += 2) {
            int j = (i % hs) / 2;
            float fcr = ropeCos[pos * half + j];
            float fci = ropeSin[pos * half + j];
            float v0 = vec[off + i];
            float v1 = vec[off + i + 1];
            vec[off + i] = v0 * fcr - v1 * fci;
            vec[off + i + 1] = v0 * fci + v1 * fcr;
        }
    }

    /** run.c's rmsnorm: o = weight * (x / sqrt(mean(x^2) + 1e-5)). */
    static void rmsnorm(float[] o, float[] x, float[] weight, int size) {
        float ss = 0.0f;
        for (int j = 0; j < size; j++) {
            ss += x[j] * x[j];
        }
        ss /= size;
        ss += RMS_EPS;
        ss = 1.0f / (float) Math.sqrt(ss);
        for (int j = 0; j < size; j++) {
            o[j] = weight[j] * (ss * x[j]);
        }
    }

    /** run.c's matmul: W (d,n) @ x (n,) -> out (d,), each dot product summed left to right in float. */
    static void matmul(float[] out, int outOff, float[] x, int xOff, float[] w, int n, int d) {
        for (int i = 0; i < d; i++) {
            float val = 0.0f;
            int base = i * n;
            for (int j = 0; j < n; j++) {
                val += w[base + j] * x[xOff + j];
            }
            out[outOff + i] = val;
        }
    }

    /** visible[q][k]: whether new query q of row b sees key k (state slots, then new tokens), padding excluded. */
    private static boolean[][] visibility(AttentionSpec base, int b, int lq, int past, boolean[] keyValid) {
        int keys = past + lq;
        boolean[][] vis = new boolean[lq][keys];
        for (int q = 0; q < lq; q++) {
            for (int k = 0; k < keys; k++) {
                boolean v;
                if (base instanceof AttentionSpec.Causal) {
                    v = k <= past + q;
                } else if (base instanceof AttentionSpec.Full) {
                    v = true;
                } else if (base instanceof AttentionSpec.Segments s) {
                    v = s.keySegment()[b][k] <= s.querySegment()[b][q];
                } else if (base instanceof AttentionSpec.Explicit e) {
                    v = e.visible()[b][q].get(k);
                } else {
                    throw ArborException.invalid("unsupported attention spec " + base);
                }
                vis[q][k] = v && keyValid[k];
            }
        }
        return vis;
    }

    private static int[] defaultPositions(boolean[] keyValid, int past, int lq) {
        int count = 0;
        for (int k = 0; k < past; k++) {
            if (keyValid[k]) {
                count++;
            }
        }
        int[] pos = new int[lq];
        for (int j = 0; j < lq; j++) {
            pos[j] = count;
            if (keyValid[past + j]) {
                count++;
            }
        }
        return pos;
    }

    private static int[] identity(int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = i;
        }
        return out;
    }

    private void ensureOpen() {
        if (closed) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT,
                    "llama2.c reference model " + card.name() + " is closed");
        }
    }

    private void checkToken(int id) {
        if (id < 0 || id >= cfg.vocabSize()) {
            throw ArborException.invalid("token id " + id + " is outside the vocabulary [0, " + cfg.vocabSize()
                    + ") of " + card.name());
        }
    }

    private KvState checkState(DecodeState s, int batch) {
        if (s == null) {
            return null;
        }
        if (!(s instanceof KvState kv) || kv.owner != this) {
            throw ArborException.invalid("the decode state was not created by this llama2.c reference model ("
                    + card.name() + ")");
        }
        kv.ensureOpen();
        if (kv.batch != batch) {
            throw ArborException.invalid("request has " + batch + " rows but its state holds " + kv.batch);
        }
        return kv;
    }

    private void checkInputs(ForwardRequest r, int batch, int lq) {
        if (batch < 1 || lq < 1) {
            throw ArborException.invalid("a forward request needs at least one row and one token, got " + batch
                    + " rows of " + lq);
        }
        for (int b = 0; b < batch; b++) {
            if (r.tokens() != null) {
                if (r.tokens()[b].length != lq) {
                    throw ArborException.invalid("row " + b + " has " + r.tokens()[b].length
                            + " tokens but row 0 has " + lq + "; rows must be equally long (use padding)");
                }
                for (int t : r.tokens()[b]) {
                    checkToken(t);
                }
            } else {
                if (r.embeddings()[b].length != lq) {
                    throw ArborException.invalid("row " + b + " has " + r.embeddings()[b].length
                            + " embeddings but row 0 has " + lq);
                }
                for (float[] e : r.embeddings()[b]) {
                    if (e.length != cfg.dim()) {
                        throw ArborException.invalid("input embeddings must have width " + cfg.dim() + " (dim of "
                                + card.name() + "), got " + e.length);
                    }
                }
            }
        }
        if (r.positions() != null && (r.positions().length != batch)) {
            throw ArborException.invalid("positions has " + r.positions().length + " rows, expected " + batch);
        }
    }

    private void checkPositions(int[] positions, int b, int lq) {
        if (positions.length != lq) {
            throw ArborException.invalid("positions row " + b + " has " + positions.length + " entries, expected "
                    + lq);
        }
        for (int p : positions) {
            if (p < 0 || p >= cfg.seqLen()) {
                throw ArborException.invalid("position " + p + " in row " + b + " is outside the context [0, "
                        + cfg.seqLen() + ") of " + card.name());
            }
        }
    }

    private static void checkSpec(AttentionSpec base, boolean[][] newValid, int batch, int lq, int past) {
        int keys = past + lq;
        if (newValid != null) {
            if (newValid.length != batch) {
                throw ArborException.invalid("padding newTokenValid has " + newValid.length + " rows, expected "
                        + batch);
            }
            for (boolean[] row : newValid) {
                if (row.length != lq) {
                    throw ArborException.invalid("padding newTokenValid rows must have " + lq + " entries, got "
                            + row.length);
                }
            }
        }
        if (base instanceof AttentionSpec.Segments s) {
            if (s.querySegment().length != batch || s.keySegment().length != batch) {
                throw ArborException.invalid("Segments needs " + batch + " rows of segments");
            }
            for (int b = 0; b < batch; b++) {
                if (s.querySegment()[b].length != lq || s.keySegment()[b].length != keys) {
                    throw ArborException.invalid("Segments row " + b + " needs " + lq + " query segments and "
                            + keys + " key segments (state " + past + " + new " + lq + "), got "
                            + s.querySegment()[b].length + " and " + s.keySegment()[b].length);
                }
            }
        } else if (base instanceof AttentionSpec.Explicit e) {
            if (e.visible().length != batch) {
                throw ArborException.invalid("Explicit mask has " + e.visible().length + " rows, expected " + batch);
            }
            for (int b = 0; b < batch; b++) {
                if (e.visible()[b].length != lq) {
                    throw ArborException.invalid("Explicit mask row " + b + " has " + e.visible()[b].length
                            + " queries, expected " + lq);
                }
                for (int q = 0; q < lq; q++) {
                    BitSet bits = e.visible()[b][q];
                    if (bits == null || bits.length() > keys) {
                        throw ArborException.invalid("Explicit mask of row " + b + " query " + q
                                + " must be a bit set over " + keys + " keys (state " + past + " + new " + lq
                                + "), got " + (bits == null ? "null" : "highest bit " + (bits.length() - 1)));
                    }
                }
            }
        }
    }

    private static int[] checkWrite(StateWrite write, KvState state, int lq, int past) {
        if (state == null || !(write instanceof StateWrite.At at)) {
            return null;
        }
        return at.checkedSlots(lq, past);
    }

    private static int[][] checkLogitRows(int[][] rows, int batch, int lq) {
        if (rows == null) {
            return null;
        }
        if (rows.length != batch) {
            throw ArborException.invalid("logitRows has " + rows.length + " rows, expected " + batch);
        }
        for (int[] row : rows) {
            for (int r : row) {
                if (r < 0 || r >= lq) {
                    throw ArborException.invalid("logit row " + r + " is outside the " + lq + " new tokens");
                }
            }
        }
        return rows;
    }

    /**
     * The KV cache: per row and layer, keys (after RoPE) and values of every slot, [slot, kv_dim] row-major, plus
     * whether each slot is a real token or padding. Grows by doubling.
     */
    static final class KvState implements DecodeState {
        final Llama2cReferenceModel owner;
        final int layers;
        final int kvDim;
        int batch;
        int length;
        int capacity;
        float[][][] keys;
        float[][][] values;
        boolean[][] valid;
        private boolean closed;

        KvState(Llama2cReferenceModel owner, int batch) {
            this.owner = owner;
            this.layers = owner.cfg.nLayers();
            this.kvDim = owner.cfg.kvDim();
            this.batch = batch;
            this.capacity = 16;
            this.keys = new float[batch][layers][capacity * kvDim];
            this.values = new float[batch][layers][capacity * kvDim];
            this.valid = new boolean[batch][capacity];
        }

        private KvState(KvState other) {
            this.owner = other.owner;
            this.layers = other.layers;
            this.kvDim = other.kvDim;
            this.batch = other.batch;
            this.length = other.length;
            this.capacity = other.capacity;
            this.keys = new float[batch][][];
            this.values = new float[batch][][];
            this.valid = new boolean[batch][];
            for (int b = 0; b < batch; b++) {
                keys[b] = deepCopy(other.keys[b]);
                values[b] = deepCopy(other.values[b]);
                valid[b] = other.valid[b].clone();
            }
        }

        @Override
        public int batchSize() {
            ensureOpen();
            return batch;
        }

        @Override
        public int length() {
            ensureOpen();
            return length;
        }

        @Override
        public void truncate(int newLength) {
            ensureOpen();
            if (newLength < 0 || newLength > length) {
                throw ArborException.invalid("cannot truncate a state of " + length + " slots to " + newLength);
            }
            length = newLength;
        }

        @Override
        public void compact(int[] keepSlots) {
            ensureOpen();
            for (int i = 0; i < keepSlots.length; i++) {
                if (keepSlots[i] < 0 || keepSlots[i] >= length || (i > 0 && keepSlots[i] <= keepSlots[i - 1])) {
                    throw ArborException.invalid("compact needs strictly ascending slots in [0, " + length
                            + "), got " + java.util.Arrays.toString(keepSlots));
                }
            }
            for (int b = 0; b < batch; b++) {
                for (int l = 0; l < layers; l++) {
                    for (int i = 0; i < keepSlots.length; i++) {
                        System.arraycopy(keys[b][l], keepSlots[i] * kvDim, keys[b][l], i * kvDim, kvDim);
                        System.arraycopy(values[b][l], keepSlots[i] * kvDim, values[b][l], i * kvDim, kvDim);
                    }
                }
                for (int i = 0; i < keepSlots.length; i++) {
                    valid[b][i] = valid[b][keepSlots[i]];
                }
            }
            length = keepSlots.length;
        }

        @Override
        public DecodeState fork() {
            ensureOpen();
            return new KvState(this);
        }

        @Override
        public void selectRows(int[] sourceRows) {
            ensureOpen();
            float[][][] k = new float[sourceRows.length][][];
            float[][][] v = new float[sourceRows.length][][];
            boolean[][] ok = new boolean[sourceRows.length][];
            for (int i = 0; i < sourceRows.length; i++) {
                int src = sourceRows[i];
                if (src < 0 || src >= batch) {
                    throw ArborException.invalid("selectRows: source row " + src + " is outside the state's "
                            + batch + " rows");
                }
                // Copies, so that a row selected twice can diverge.
                k[i] = deepCopy(keys[src]);
                v[i] = deepCopy(values[src]);
                ok[i] = valid[src].clone();
            }
            keys = k;
            values = v;
            valid = ok;
            batch = sourceRows.length;
        }

        @Override
        public void close() {
            closed = true;
            keys = null;
            values = null;
            valid = null;
        }

        void ensureOpen() {
            if (closed) {
                throw ArborException.invalid("this llama2.c decode state is closed");
            }
        }

        /** Stores the new tokens' keys/values: at {@code slots} when given, otherwise appended. */
        void write(int[] slots, float[][][] newKeys, float[][][] newValues, boolean[][] newValid, int lq) {
            int[] target = slots;
            if (target == null) {
                ensureCapacity(length + lq);
                target = new int[lq];
                for (int j = 0; j < lq; j++) {
                    target[j] = length + j;
                }
                length += lq;
            }
            for (int b = 0; b < batch; b++) {
                for (int l = 0; l < layers; l++) {
                    for (int j = 0; j < lq; j++) {
                        System.arraycopy(newKeys[b][l], j * kvDim, keys[b][l], target[j] * kvDim, kvDim);
                        System.arraycopy(newValues[b][l], j * kvDim, values[b][l], target[j] * kvDim, kvDim);
                    }
                }
                for (int j = 0; j < lq; j++) {
                    valid[b][target[j]] = newValid == null || newValid[b][j];
                }
            }
        }

        private void ensureCapacity(int needed) {
            if (needed <= capacity) {
                return;
            }
            int cap = Math.max(needed, capacity * 2);
            for (int b = 0; b < batch; b++) {
                for (int l = 0; l < layers; l++) {
                    keys[b][l] = java.util.Arrays.copyOf(keys[b][l], cap * kvDim);
                    values[b][l] = java.util.Arrays.copyOf(values[b][l], cap * kvDim);
                }
                valid[b] = java.util.Arrays.copyOf(valid[b], cap);
            }
            capacity = cap;
        }

        private static float[][] deepCopy(float[][] a) {
            float[][] out = new float[a.length][];
            for (int i = 0; i < a.length; i++) {
                out[i] = a[i].clone();
            }
            return out;
        }
    }
}
