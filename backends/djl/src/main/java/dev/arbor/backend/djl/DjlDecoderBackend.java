package dev.arbor.backend.djl;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.backend.support.BatchingOptions;
import dev.arbor.backend.support.RequestChecks;
import dev.arbor.backend.support.StepCoalescer;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;

/**
 * A decoder network on DJL's PyTorch engine behind the {@link ModelBackend} contract: a {@link LlamaDecoder} built
 * from a llama2.c checkpoint, or a TorchScript module ({@link TorchScriptDecoder}); both take the same inputs
 * ({@code input_ids, position_ids, attention_bias, past_key_0, past_value_0, ...}) and return
 * {@code logits, present_key_0, present_value_0, ...}.
 *
 * <p>Every {@link AttentionSpec} is an additive bias ({@link AttentionBias}), so all of them are supported, with
 * padding. Input embeddings ({@link Capability#INPUT_EMBEDS}, llama2c models only): a request's
 * {@link ForwardRequest#embeddings()} replace {@code input_ids} as a float {@code [B,T,dim]} first input, which the
 * {@link LlamaDecoder} takes in place of its embedding gather. The KV cache stays in native memory between steps
 * ({@link DjlDecodeState}); each forward call runs in a sub-manager of the state (or of the model for stateless calls) that is closed when the call returns, so no
 * intermediate tensor outlives its step. Stateless calls ({@code state == null}) are the cache-free reference path.
 *
 * <p>Continuous batching (option {@code batching}, default true; {@code max_batch_rows} rows per run, default 16;
 * {@code batch_gather_us}, the coalescer's gather window, default 2000): the
 * decode steps of concurrent requests (one row, one new token appended to a non-empty state, causal or full
 * attention without padding) are coalesced by a {@link StepCoalescer} into one batched forward
 * ({@link BatchedDecode}); every other request runs on its own as before. Callers never see the difference.
 *
 * <p>Concurrency: {@link #forward} may run on several threads at once (PyTorch ops are thread-safe and the weights
 * are read-only); {@link #close()} waits for in-flight calls, then frees the weights and every state still open.
 */
final class DjlDecoderBackend implements ModelBackend, EmbeddingAccess {
    private final String source;
    private final Block network;
    private final NDManager manager;
    private final AutoCloseable owner;
    private final ModelCard card;
    private final Device device;
    private final int layers;
    private final int kvHeads;
    private final int headSize;
    private final float[] embeddingTable;
    private final int embeddingWidth;
    private final Consumer<DjlDecoderBackend> onClose;
    private final ParameterStore store;
    /** The empty bias that tells the llama decoder "nothing hidden"; read-only, shared by every call. */
    private final NDArray noBias;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    /** Coalesces concurrent decode steps; null when option {@code batching} is off. */
    private final StepCoalescer<BatchedDecode.Step, float[]> coalescer;
    /** Told about every batch before it runs (tests use it to see batches form); null normally. */
    private volatile StepCoalescer.Observer batchObserver;
    private volatile boolean closed;

    /**
     * @param network        the decoder block (weights already loaded into {@code manager})
     * @param manager        owns the weights; closed with the backend
     * @param owner          closed with the backend after the manager (a DJL Model), may be null
     * @param embeddingTable the input embedding [vocab, width] for {@link EmbeddingAccess}, or null when not offered
     * @param batching       the continuous-batching options ({@link #batching})
     * @param batches        told about every batched run (engine metrics), may be null
     */
    DjlDecoderBackend(String source, Block network, NDManager manager, AutoCloseable owner, ModelCard card,
                      Device device, int layers, int kvHeads, int headSize, float[] embeddingTable,
                      int embeddingWidth, BatchingOptions batching,
                      StepCoalescer.Observer batches, Consumer<DjlDecoderBackend> onClose) {
        this.source = source;
        this.network = network;
        this.manager = manager;
        this.owner = owner;
        this.card = card;
        this.device = device;
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headSize = headSize;
        this.embeddingTable = embeddingTable;
        this.embeddingWidth = embeddingWidth;
        this.onClose = onClose;
        this.store = new ParameterStore(manager, false);
        this.noBias = manager.create(new float[0], new Shape(0));
        // The gather window keeps a batch together: without it the first request back from its sampler finds the
        // coalescer idle and runs alone while the others queue (measured on 4 lock-step greedy streams of
        // stories260K: 408 of 554 runs held one step).
        this.coalescer = batching.coalescer(new StepCoalescer.Policy<>() {
            @Override
            public int rows(BatchedDecode.Step step) {
                return 1;
            }

            @Override
            public boolean compatible(BatchedDecode.Step first, BatchedDecode.Step other) {
                return true; // every decode step of this network merges: rows differ only in KV length (padded)
            }
        }, this::runSteps, (steps, rows, waits) -> {
            if (batches != null) {
                batches.batch(steps, rows, waits);
            }
            StepCoalescer.Observer o = batchObserver;
            if (o != null) {
                o.batch(steps, rows, waits);
            }
        });
    }

    /**
     * Options {@code batching} (default true), {@code max_batch_rows} (default 16) and {@code batch_gather_us}
     * (default 2000: a DJL run costs about a millisecond, so waiting up to two for the rest of the previous batch
     * keeps lock-step streams together).
     */
    static BatchingOptions batching(Options options) {
        return BatchingOptions.from(options, 16, 2000);
    }

    /** Totals of the step coalescer (batches, steps, queue wait), or null when batching is off. */
    StepCoalescer.Stats batchingStats() {
        return coalescer == null ? null : coalescer.stats();
    }

    /** Decode steps waiting for a batched run (0 when batching is off). */
    int queuedSteps() {
        return coalescer == null ? 0 : coalescer.queued();
    }

    /** Sets the observer told about each batch before it runs, on the running thread (null: none). */
    void observeBatches(StepCoalescer.Observer observer) {
        this.batchObserver = observer;
    }

    /**
     * Capabilities of any network with the bias signature: every attention spec and every state edit; the Java
     * {@link LlamaDecoder} ({@code llama}) also offers its embedding matrix and takes input embeddings.
     */
    static Set<Capability> capabilities(boolean llama) {
        EnumSet<Capability> caps = EnumSet.of(Capability.BATCH, Capability.FULL_ATTENTION, Capability.SEGMENT_MASK,
                Capability.EXPLICIT_MASK, Capability.PADDING, Capability.STATE_TRUNCATE, Capability.STATE_COMPACT,
                Capability.STATE_FORK, Capability.STATE_SELECT_ROWS, Capability.STATE_WRITE_AT);
        if (llama) {
            caps.add(Capability.EMBEDDING_MATRIX);
            caps.add(Capability.INPUT_EMBEDS);
        }
        return caps;
    }

    /**
     * The device for option {@code device} ({@code cpu} default, or {@code cuda}) and {@code device_id}.
     *
     * @throws ArborException INCOMPATIBLE when CUDA is asked for but the engine sees no GPU, naming why
     */
    static Device device(Engine engine, String device, int deviceId, String model) {
        return switch (device) {
            case "cpu" -> Device.cpu();
            case "cuda", "gpu" -> {
                int gpus = engine.getGpuCount();
                if (deviceId >= gpus) {
                    throw new ArborException(ArborException.Kind.INCOMPATIBLE, "device=cuda (device_id " + deviceId
                            + ") was requested for model '" + model + "' but DJL's PyTorch engine sees " + gpus
                            + " GPU(s): " + (gpus == 0 ? "the bundle dev.arbor.djl.runtime embeds the CPU-only "
                            + "natives (pytorch-native-cpu) or this machine has no NVIDIA GPU/driver. To run on CUDA, "
                            + "build it with mvn install -pl backends/djl-runtime -Pcuda (pytorch-native-cu128) and "
                            + "run on a machine with an NVIDIA GPU and a CUDA 12.8 driver"
                            : "choose a device_id below " + gpus));
                }
                yield Device.gpu(deviceId);
            }
            default -> throw ArborException.invalid("option 'device' must be 'cpu' or 'cuda', got '" + device + "'");
        };
    }

    @Override
    public ModelCard card() {
        return card;
    }

    /** The device the network runs on. */
    Device deviceUsed() {
        return device;
    }

    @Override
    public DecodeState newState(int batchSize) {
        if (batchSize < 1) {
            throw ArborException.invalid("batch size must be at least 1, got " + batchSize);
        }
        ensureOpen();
        return newStateFor(batchSize);
    }

    /** A new empty state whose tensors live in a sub-manager of the model's (freed with the model at the latest). */
    DjlDecodeState newStateFor(int batchSize) {
        ensureOpen();
        return new DjlDecodeState(this, manager.newSubManager(), batchSize);
    }

    @Override
    public <T> Optional<T> extension(Class<T> type) {
        if (type == EmbeddingAccess.class && embeddingTable == null) {
            return Optional.empty();
        }
        return ModelBackend.super.extension(type);
    }

    @Override
    public float[] embedding(int tokenId) {
        ensureOpen();
        requireEmbeddings();
        if (tokenId < 0 || tokenId >= card.vocabSize()) {
            throw ArborException.invalid("token id " + tokenId + " is outside the vocabulary [0, " + card.vocabSize()
                    + ") of '" + card.name() + "'");
        }
        float[] out = new float[embeddingWidth];
        System.arraycopy(embeddingTable, tokenId * embeddingWidth, out, 0, embeddingWidth);
        return out;
    }

    @Override
    public int embeddingSize() {
        ensureOpen();
        requireEmbeddings();
        return embeddingWidth;
    }

    private void requireEmbeddings() {
        if (embeddingTable == null) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "model '" + card.name() + "' (" + source
                    + ") offers no input-embedding matrix: only llama2c models do on the djl backend; check "
                    + "extension(EmbeddingAccess.class) first");
        }
    }

    @Override
    public ForwardResult forward(ForwardRequest request) {
        Objects.requireNonNull(request, "request");
        Lock read = lock.readLock();
        read.lock();
        try {
            ensureOpen();
            BatchedDecode.Step step = coalescer == null ? null : BatchedDecode.Step.of(request, this);
            if (step == null) {
                return run(request);
            }
            return new ForwardResult(new float[][][] {{coalescer.submit(step)}}, null);
        } finally {
            read.unlock();
        }
    }

    /** The coalescer's runner: one step runs exactly as an unbatched request, several as one batched forward. */
    List<float[]> runSteps(List<BatchedDecode.Step> steps) {
        if (steps.size() == 1) {
            return List.of(run(steps.get(0).request()).logits()[0][0]);
        }
        try {
            return BatchedDecode.run(steps, network, store, manager, layers, noBias);
        } catch (EngineException e) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "PyTorch failed on '" + source + "' for a "
                    + "batched decode step of " + steps.size() + " requests: " + e.getMessage(), e);
        }
    }

    private ForwardResult run(ForwardRequest req) {
        int[][] tokens = req.tokens();
        float[][][] embeds = req.embeddings();
        if (embeds != null && !card.supports(Capability.INPUT_EMBEDS)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "model '" + card.name() + "' (" + source
                    + ") takes token ids: its TorchScript network's first input is input_ids, so it cannot run a "
                    + "request of input embeddings (capability INPUT_EMBEDS, which llama2c models on the djl backend "
                    + "have)");
        }
        int batch = req.batchSize();
        if (batch == 0 || (tokens != null ? tokens[0] : embeds[0]) == null || req.queryLength() == 0) {
            throw ArborException.invalid("a forward request needs at least one row and one token");
        }
        int lq = req.queryLength();
        if (tokens != null) {
            checkTokens(tokens, batch, lq);
        } else {
            checkEmbeddings(embeds, batch, lq);
        }
        AttentionSpec spec = req.attention();
        boolean[][] newValid = spec instanceof AttentionSpec.WithPadding p ? p.newTokenValid() : null;
        if (newValid != null) {
            AttentionBias.checkMatrix("newTokenValid", newValid.length, batch,
                    b -> newValid[b] == null ? -1 : newValid[b].length, lq);
        }
        DjlDecodeState state = null;
        if (req.state() != null) {
            if (!(req.state() instanceof DjlDecodeState s) || s.owner() != this) {
                throw ArborException.invalid("the decode state was not created by this backend ('" + card.name()
                        + "'); use newState() of the backend that runs the request");
            }
            if (s.isClosed()) {
                throw ArborException.invalid("the decode state passed to forward on '" + card.name() + "' is closed");
            }
            if (s.batchSize() != batch) {
                throw ArborException.invalid("the request has " + batch + " rows but the decode state has "
                        + s.batchSize());
            }
            state = s;
        }
        int[] writeSlots = null;
        if (req.write() instanceof StateWrite.At at) {
            if (state == null) {
                throw ArborException.invalid("StateWrite.At overwrites slots of a decode state; pass the state the "
                        + "slots belong to");
            }
            writeSlots = at.checkedSlots(lq, state.length());
        }
        boolean append = state != null && req.write() instanceof StateWrite.Append;
        int past = state == null ? 0 : state.length();
        int[][] positions = req.positions() != null ? req.positions() : defaultPositions(state, newValid, batch, lq);
        checkPositions(positions, batch, lq, req.positions() == null);
        int[][] logitRows = req.logitRows();
        if (logitRows != null) {
            checkLogitRows(logitRows, batch, lq);
        }
        // The Java llama decoder takes an empty bias for "nothing hidden" (the decode loop's case: one causal token
        // over a cache without padding), so no bias is built or copied per token; TorchScript networks need it.
        boolean unmasked = network instanceof LlamaDecoder && newValid == null
                && (state == null || state.allSlotsValid())
                && (spec.base() instanceof AttentionSpec.Full
                    || spec.base() instanceof AttentionSpec.Causal && lq == 1
                    || seesEveryKey(spec.base(), batch, lq, past + lq));
        DjlDecodeState st = state;
        float[] bias = unmasked ? null : AttentionBias.build(spec.base(),
                st == null ? (r, k) -> false : st::slotValid, newValid, batch, past, lq);

        NDList presents = null;
        try (NDManager step = (state != null ? state.manager() : manager).newSubManager()) {
            NDList inputs = new NDList(3 + 2 * layers);
            inputs.add(tokens != null ? step.create(flatLongs(tokens, batch, lq), new Shape(batch, lq))
                    : step.create(flatFloats(embeds, batch, lq), new Shape(batch, lq, embeddingWidth)));
            inputs.add(step.create(flatLongs(positions, batch, lq), new Shape(batch, lq)));
            inputs.add(unmasked ? noBias : step.create(bias, new Shape(batch, 1, lq, past + lq)));
            NDList kv = state == null ? null : state.kv();
            for (int i = 0; i < 2 * layers; i++) {
                inputs.add(kv != null ? kv.get(i) : step.zeros(new Shape(batch, kvHeads, 0, headSize),
                        DataType.FLOAT32));
            }
            NDList out = network.forward(store, inputs, false);
            if (out.size() != 1 + 2 * layers) {
                throw ArborException.badModel("model '" + card.name() + "' (" + source + ") returned " + out.size()
                        + " outputs, expected logits and " + 2 * layers + " present key/value tensors", null);
            }
            float[][][] logits = readLogits(out.get(0), batch, lq, logitRows);
            if (append) {
                presents = new NDList(2 * layers);
                for (int i = 1; i < out.size(); i++) {
                    presents.add(out.get(i));
                }
                state.append(presents, newValid, lq); // moves them into the state's manager before step closes
            } else {
                if (writeSlots != null) {
                    // presents are [past ; new] per layer: the new tokens' keys and values go into their slots
                    NDList targets = state.kv();
                    for (int i = 1; i < out.size(); i++) {
                        NDArray present = out.get(i);
                        for (int j = 0; j < lq; j++) {
                            targets.get(i - 1).set(new NDIndex(":, :, {}", writeSlots[j]),
                                    present.get(new NDIndex(":, :, {}", past + j)));
                        }
                    }
                    state.markWritten(writeSlots, newValid);
                }
                for (int i = 1; i < out.size(); i++) {
                    if (kv == null || out.get(i) != kv.get(i - 1)) {
                        out.get(i).attach(step); // presents a None write does not keep die with the step
                    }
                }
            }
            return new ForwardResult(logits, null);
        } catch (EngineException e) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "PyTorch failed on '" + source + "' for "
                    + batch + " row(s) x " + lq + " new token(s) after " + past + " cached slot(s): "
                    + e.getMessage(), e);
        }
    }

    private float[][][] readLogits(NDArray logits, int batch, int lq, int[][] logitRows) {
        int vocab = card.vocabSize();
        Shape shape = logits.getShape();
        if (shape.dimension() != 3 || shape.get(0) != batch || shape.get(1) != lq || shape.get(2) != vocab) {
            throw ArborException.badModel("model '" + card.name() + "' (" + source + ") returned logits of shape "
                    + shape + ", expected (" + batch + ", " + lq + ", " + vocab + ")", null);
        }
        boolean lastOnly = lq > 1 && logitRows != null;
        for (int b = 0; lastOnly && b < batch; b++) {
            lastOnly = logitRows[b].length == 1 && logitRows[b][0] == lq - 1;
        }
        float[][][] out = new float[batch][][];
        if (lastOnly) { // the decode loop's case: copy one row per batch item, not the whole prompt's logits
            float[] data = logits.get(new NDIndex(":, -1")).toFloatArray();
            for (int b = 0; b < batch; b++) {
                out[b] = new float[1][vocab];
                System.arraycopy(data, b * vocab, out[b][0], 0, vocab);
            }
            return out;
        }
        float[] data = logits.toFloatArray();
        for (int b = 0; b < batch; b++) {
            int n = logitRows == null ? lq : logitRows[b].length;
            out[b] = new float[n][vocab];
            for (int i = 0; i < n; i++) {
                int row = logitRows == null ? i : logitRows[b][i];
                System.arraycopy(data, (b * lq + row) * vocab, out[b][i], 0, vocab);
            }
        }
        return out;
    }

    /**
     * True for Segments in which every query sees every key (no key's segment above any query's): a next-scale
     * step, whose new scale sees itself and all earlier scales, is Full attention and needs no bias. Malformed
     * segment matrices give false, so that {@link AttentionBias#build} reports them.
     */
    private static boolean seesEveryKey(AttentionSpec base, int batch, int lq, int keys) {
        if (!(base instanceof AttentionSpec.Segments s) || s.querySegment().length != batch
                || s.keySegment().length != batch) {
            return false;
        }
        for (int b = 0; b < batch; b++) {
            int[] q = s.querySegment()[b];
            int[] k = s.keySegment()[b];
            if (q == null || k == null || q.length != lq || k.length != keys) {
                return false;
            }
            int lowestQuery = Arrays.stream(q).min().getAsInt();
            if (Arrays.stream(k).max().getAsInt() > lowestQuery) {
                return false;
            }
        }
        return true;
    }

    private void checkTokens(int[][] tokens, int batch, int lq) {
        RequestChecks.tokens(tokens, batch, lq, card);
    }

    private void checkEmbeddings(float[][][] embeds, int batch, int lq) {
        RequestChecks.embeddings(embeds, batch, lq, embeddingWidth, card, "input embeddings");
    }

    private static float[] flatFloats(float[][][] values, int batch, int lq) {
        int width = values[0][0].length;
        float[] out = new float[batch * lq * width];
        for (int b = 0; b < batch; b++) {
            for (int j = 0; j < lq; j++) {
                System.arraycopy(values[b][j], 0, out, (b * lq + j) * width, width);
            }
        }
        return out;
    }

    private static long[] flatLongs(int[][] values, int batch, int lq) {
        long[] out = new long[batch * lq];
        for (int b = 0; b < batch; b++) {
            for (int j = 0; j < lq; j++) {
                out[b * lq + j] = values[b][j];
            }
        }
        return out;
    }

    private static int[][] defaultPositions(DjlDecodeState state, boolean[][] newValid, int batch, int lq) {
        int[][] positions = new int[batch][lq];
        for (int b = 0; b < batch; b++) {
            int next = state == null ? 0 : state.validCount(b);
            for (int j = 0; j < lq; j++) {
                positions[b][j] = next;
                if (newValid == null || newValid[b][j]) {
                    next++;
                }
            }
        }
        return positions;
    }

    private void checkPositions(int[][] positions, int batch, int lq, boolean defaults) {
        AttentionBias.checkMatrix("positions", positions.length, batch,
                b -> positions[b] == null ? -1 : positions[b].length, lq);
        for (int b = 0; b < batch; b++) {
            for (int p : positions[b]) {
                if (p < 0 || p >= card.maxPositions()) {
                    throw ArborException.invalid("position " + p + " in row " + b + " is outside the context [0, "
                            + card.maxPositions() + ") of '" + card.name() + "'" + (defaults
                            ? ": the row's context is full (truncate or compact the state, or start a new one)" : ""));
                }
            }
        }
    }

    private static void checkLogitRows(int[][] logitRows, int batch, int lq) {
        if (logitRows.length != batch) {
            throw ArborException.invalid("logitRows has " + logitRows.length + " rows, the request has " + batch);
        }
        for (int b = 0; b < batch; b++) {
            if (logitRows[b] == null) {
                throw ArborException.invalid("logitRows[" + b + "] is null");
            }
            for (int r : logitRows[b]) {
                if (r < 0 || r >= lq) {
                    throw ArborException.invalid("logitRows[" + b + "] asks for row " + r + " but the request has "
                            + lq + " new tokens");
                }
            }
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "the djl backend for '" + card.name()
                    + "' was closed");
        }
    }

    /** Waits for in-flight forward calls, then frees the weights and all states still open; idempotent. */
    @Override
    public void close() {
        Lock write = lock.writeLock();
        write.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            manager.close();
            if (owner != null) {
                try {
                    owner.close();
                } catch (Exception e) {
                    // the weights are already freed with the manager; a failing owner close leaks nothing more
                }
            }
        } finally {
            write.unlock();
        }
        if (onClose != null) {
            onClose.accept(this);
        }
    }

    @Override
    public String toString() {
        return "DjlDecoderBackend[" + source + ", " + device + ", " + card + "]";
    }
}
