package dev.arbor.backend.onnxruntime;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
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
import dev.arbor.backend.support.RequestChecks;
import dev.arbor.backend.support.StepCoalescer;
import dev.arbor.onnxruntime.runtime.OrtRuntime;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * A decoder ONNX graph on ONNX Runtime (see {@link DecoderSignature} for the conventions read).
 *
 * <p>Decoding: the state's KV tensors are fed as {@code past} inputs and the graph's {@code present} outputs become
 * the state's next KV block without leaving native memory; only the small id/position/mask tensors are written and
 * only the requested logit rows are read per step. A stateless request ({@code state == null}) runs the same graph
 * with empty past tensors and is the reference path.
 *
 * <p>Attention: graphs with {@code attention_bias} get an additive bias built from any {@link AttentionSpec}
 * (Causal, Full, Segments, Explicit, each with padding). Graphs with only {@code attention_mask} build the causal
 * mask internally and accept Causal (plus left padding through the mask); other specs are refused. Padding slots are
 * hidden from every query; a padding query sees only itself so its (ignored) activations stay finite.
 *
 * <p>Concurrency: {@link #forward} may run on many threads at once (ONNX Runtime sessions are thread-safe);
 * {@link #close()} takes the write side of a read-write lock, so it waits for in-flight calls before freeing the
 * session and can never pull native memory from under a running request (hot swap of model bundles).
 *
 * <p>Embeddings: a model opened from a llama2.c checkpoint (format {@code llama2c}) offers {@link EmbeddingAccess}
 * (the checkpoint's {@code token_embedding} rows, read lazily on first use, see {@link Llama2cSupport.Embeddings})
 * and lists {@link Capability#EMBEDDING_MATRIX}; other ONNX files do not, and {@link #extension} says so.
 *
 * <p>Input embeddings: a graph whose first input is {@code inputs_embeds} (Optimum's name; the llama2c converter's
 * input-embeddings graph, see {@code Llama2cOnnxConverter#takesInputEmbeddings}) lists
 * {@link Capability#INPUT_EMBEDS} and takes {@link ForwardRequest#embeddings()} as they are. Token-id requests on
 * such a graph are served when the embedding table is known (format llama2c) by gathering its rows here, so a text
 * pipeline runs unchanged on the same model; graphs with {@code input_ids} refuse embeddings requests.
 *
 * <p>Convolution state (hybrid LFM2 graphs, {@code past_conv.N} / {@code present_conv.N}): fed from the state (zeros
 * for an empty state and for stateless requests) beside the KV of the attention layers and replaced by the graph's
 * outputs after every appending forward. The card lists {@link Capability#STATE_FORK},
 * {@link Capability#STATE_SELECT_ROWS} and {@link Capability#BATCH} but neither state truncation nor compaction (the
 * state cannot be rewound, see {@link OnnxDecodeState#truncate}), no {@link Capability#STATE_WRITE_AT} (a rewrite at
 * old slots would run the convolution past its end) and no padding or non-causal attention (padding tokens and
 * future keys would flow into the causal convolution), so the platform's compatibility check refuses speculative
 * and tree strategies on such a model, naming the capability, before they run.
 */
public final class OnnxDecoderBackend implements ModelBackend, EmbeddingAccess {
    private static final Logger LOG = Logger.getLogger(OnnxDecoderBackend.class.getName());
    /** Additive bias of a hidden key, per the Arbor export contract. */
    static final float HIDDEN = -1e9f;

    private final OrtEnvironment env;
    private final OrtSession session;
    private final Path file;
    private final DecoderSignature sig;
    private final ModelCard card;
    private final String device;
    private final Set<String> presentOutputs;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Map<Integer, OnnxTensor> emptyPast = new ConcurrentHashMap<>();
    /** Zero convolution state per batch size (hybrid graphs), fed to empty states and stateless requests. */
    private final Map<Integer, ConvBlock> emptyConv = new ConcurrentHashMap<>();
    private final Consumer<OnnxDecoderBackend> onClose;
    /** The input-embedding rows of a llama2.c model, or null when this model offers none. */
    private final Llama2cSupport.Embeddings embeddings;
    /** The fused-graph path (KV arena, continuous batching), or null for the other conventions. */
    private final FusedDecoder fused;
    private boolean closed;

    private OnnxDecoderBackend(OrtEnvironment env, OrtSession session, Path file, DecoderSignature sig,
                               ModelCard card, String device, Consumer<OnnxDecoderBackend> onClose,
                               Llama2cSupport.Embeddings embeddings, FusedDecoder fused) {
        this.env = env;
        this.fused = fused;
        this.session = session;
        this.file = file;
        this.sig = sig;
        this.card = card;
        this.device = device;
        this.onClose = onClose;
        this.embeddings = embeddings;
        this.presentOutputs = new LinkedHashSet<>(List.of(sig.presentNames));
        this.presentOutputs.addAll(List.of(sig.convPresentNames));
    }

    /**
     * Opens a decoder ONNX file (or a directory holding one) with the spec's options; see {@link DeviceSelection}
     * and {@link ModelFacts} for the options read.
     *
     * @param onClose called once after {@link #close()}, may be null
     * @throws ArborException NOT_FOUND for a missing file, BAD_MODEL for a file that is not a usable decoder,
     *                        INCOMPATIBLE for an unavailable device
     */
    public static OnnxDecoderBackend open(Path path, Options options, Consumer<OnnxDecoderBackend> onClose) {
        return open(path, options, onClose, null, null);
    }

    /**
     * As {@link #open(Path, Options, Consumer)} for a file converted from the llama2.c checkpoint
     * {@code llama2cCheckpoint} (null: none), whose token embedding the backend then offers as
     * {@link EmbeddingAccess}, and whose batched runs (fused graphs only) are reported to {@code observer} (null:
     * nobody).
     */
    static OnnxDecoderBackend open(Path path, Options options, Consumer<OnnxDecoderBackend> onClose,
                                   Path llama2cCheckpoint, StepCoalescer.Observer observer) {
        Objects.requireNonNull(path, "model path");
        options = options == null ? Options.empty() : options;
        Path file = resolveFile(path);
        OrtEnvironment env;
        try {
            env = OrtRuntime.environment();
        } catch (IllegalStateException e) {
            throw new ArborException(ArborException.Kind.UNAVAILABLE, e.getMessage(), e);
        }
        DeviceSelection.Choice choice = DeviceSelection.sessionOptions(file, options);
        OrtSession session;
        try {
            session = env.createSession(file.toString(), choice.options());
        } catch (OrtException e) {
            throw ArborException.badModel("cannot load '" + file + "' as an ONNX model: " + e.getMessage(), e);
        } finally {
            choice.options().close();
        }
        try {
            Map<String, String> metadata = session.getMetadata().getCustomMetadata();
            ModelFacts.Sources sources = ModelFacts.sources(file, metadata, options);
            DecoderSignature sig = DecoderSignature.detect(file, session.getInputInfo(), session.getOutputInfo(),
                    sources.kvHeads(), sources.headDim());
            ModelFacts facts = sources.resolve(sig.logitsVocab);
            if (sources.genaiModel().get("decoder") instanceof Map<?, ?> decoder) {
                sig.checkLayerTypes(file, decoder);
            }
            if ("fused".equals(metadata.get("arbor.graph")) && !sig.fused) {
                throw ArborException.badModel("ONNX model '" + file + "' says arbor.graph=fused but has no seqlens_k "
                        + "and total_sequence_length inputs: " + sig.describe(), null);
            }
            EnumSet<Capability> caps = EnumSet.of(Capability.BATCH, Capability.STATE_TRUNCATE,
                    Capability.STATE_COMPACT, Capability.STATE_FORK, Capability.STATE_SELECT_ROWS);
            if ((sig.maskType != null || sig.hasBias) && !sig.fused) {
                caps.add(Capability.PADDING);
            }
            // A fused graph's attention is GroupQueryAttention's causal mask over each row's length: no padding and
            // appends only. Its attention_bias (zeros on the decode path) can hide keys within that causal mask, which
            // is what explicit masks of draft trees need; a mask showing a later key is refused per request.
            if (sig.hasBias && sig.fused) {
                caps.add(Capability.EXPLICIT_MASK);
            }
            if (sig.hasBias && !sig.fused) {
                // The bias lets the caller hide the slots a StateWrite.At rewrites, as the reference semantics need.
                caps.addAll(EnumSet.of(Capability.FULL_ATTENTION, Capability.SEGMENT_MASK,
                        Capability.EXPLICIT_MASK, Capability.STATE_WRITE_AT));
            }
            if (llama2cCheckpoint != null) {
                caps.add(Capability.EMBEDDING_MATRIX);
            }
            if (sig.hasConvState()) {
                // The convolution state cannot be rewound or edited at slots, and the causal convolution would see
                // padding tokens and keys a mask hides: see the class comment.
                caps.removeAll(EnumSet.of(Capability.STATE_TRUNCATE, Capability.STATE_COMPACT,
                        Capability.STATE_WRITE_AT, Capability.PADDING, Capability.FULL_ATTENTION,
                        Capability.SEGMENT_MASK, Capability.EXPLICIT_MASK));
            }
            if (sig.embeds) {
                caps.add(Capability.INPUT_EMBEDS);
                if (sig.embedsWidth > 0 && facts.hiddenSize() > 0 && sig.embedsWidth != facts.hiddenSize()) {
                    throw ArborException.badModel("ONNX model '" + file + "' declares inputs_embeds of width "
                            + sig.embedsWidth + " but its hidden size is " + facts.hiddenSize(), null);
                }
            }
            // A converted checkpoint's file is a content-hashed cache entry: its card's name reads better.
            String name = options.string("name",
                    metadata.getOrDefault("arbor.name", file.getFileName().toString()));
            ModelCard card = new ModelCard(name, facts.vocabSize(), facts.maxPositions(), facts.hiddenSize(),
                    facts.bos(), facts.eos(), facts.pad(), facts.mask(), facts.alignment(), facts.attention(),
                    facts.blockSize(), caps, facts.outputHeads(), facts.continuousHead());
            LOG.info(() -> "opened '" + file + "' on " + choice.device() + ": " + sig.describe() + "; facts from "
                    + facts.source() + "; " + card);
            Llama2cSupport.Embeddings embeddings = llama2cCheckpoint == null ? null
                    : new Llama2cSupport.Embeddings(llama2cCheckpoint, card.vocabSize());
            FusedDecoder fused = sig.fused ? new FusedDecoder(env, session, sig, file, card.name(), card.vocabSize(),
                    card.maxPositions(), options, observer) : null;
            return new OnnxDecoderBackend(env, session, file, sig, card, choice.device(), onClose, embeddings, fused);
        } catch (OrtException e) {
            closeQuietly(session);
            throw ArborException.badModel("cannot read the inputs and outputs of '" + file + "': "
                    + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(session);
            throw e;
        }
    }

    /** The .onnx file for {@code path}: the path itself, or in a directory the genai_config decoder / sole .onnx. */
    private static Path resolveFile(Path path) {
        if (Files.isRegularFile(path)) {
            return path;
        }
        if (!Files.isDirectory(path)) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "ONNX model file '" + path + "' does not exist");
        }
        Map<String, Object> genai = ModelFacts.readJson(path.resolve("genai_config.json"));
        if (genai.get("model") instanceof Map<?, ?> model && model.get("decoder") instanceof Map<?, ?> decoder
                && decoder.get("filename") instanceof String name) {
            Path f = path.resolve(name);
            if (!Files.isRegularFile(f)) {
                throw new ArborException(ArborException.Kind.NOT_FOUND, "'" + path.resolve("genai_config.json")
                        + "' names decoder file '" + name + "', which does not exist");
            }
            return f;
        }
        try (Stream<Path> files = Files.list(path)) {
            List<Path> onnx = files.filter(p -> p.getFileName().toString().endsWith(".onnx")).sorted().toList();
            if (onnx.size() == 1) {
                return onnx.get(0);
            }
            throw new ArborException(ArborException.Kind.NOT_FOUND, "directory '" + path + "' holds "
                    + (onnx.isEmpty() ? "no .onnx file" : "several .onnx files " + onnx) + " and no "
                    + "genai_config.json naming the decoder; give the model file itself");
        } catch (IOException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "cannot list '" + path + "': " + e.getMessage(),
                    e);
        }
    }

    @Override
    public ModelCard card() {
        return card;
    }

    /** The device the session runs on ({@code cpu}, {@code cuda:0}, ...). */
    public String device() {
        return device;
    }

    OrtEnvironment environment() {
        return env;
    }

    DecoderSignature signature() {
        return sig;
    }

    /** The .onnx file the session runs. */
    Path file() {
        return file;
    }

    /** The fused-graph path, or null when the graph is not fused. */
    FusedDecoder fused() {
        return fused;
    }

    @Override
    public DecodeState newState(int batchSize) {
        if (batchSize < 1) {
            throw ArborException.invalid("batch size must be at least 1, got " + batchSize);
        }
        ensureOpen();
        return fused != null ? fused.newState(batchSize) : new OnnxDecodeState(this, batchSize);
    }

    @Override
    public ForwardResult forward(ForwardRequest request) {
        Objects.requireNonNull(request, "request");
        Lock read = lock.readLock();
        read.lock();
        try {
            ensureOpen();
            return run(request);
        } finally {
            read.unlock();
        }
    }

    /** {@link EmbeddingAccess} only for llama2.c models (the only ones whose embedding table we can read). */
    @Override
    public <T> Optional<T> extension(Class<T> type) {
        if (type == EmbeddingAccess.class && embeddings == null) {
            return Optional.empty();
        }
        return ModelBackend.super.extension(type);
    }

    @Override
    public float[] embedding(int tokenId) {
        ensureOpen();
        return requireEmbeddings().row(tokenId);
    }

    @Override
    public int embeddingSize() {
        ensureOpen();
        return requireEmbeddings().size();
    }

    private Llama2cSupport.Embeddings requireEmbeddings() {
        if (embeddings == null) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "model '" + card.name() + "' ("
                    + file + ") offers no input-embedding matrix: only models opened with format llama2c do; "
                    + "check extension(EmbeddingAccess.class) first");
        }
        return embeddings;
    }

    private void ensureOpen() {
        if (closed) {
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "the ONNX Runtime backend for '" + card.name()
                    + "' was closed");
        }
    }

    private ForwardResult run(ForwardRequest req) {
        int[][] tokens = req.tokens();
        float[][][] embeds = req.embeddings();
        if (embeds != null && !sig.embeds) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "model '" + card.name() + "' takes token ids "
                    + "(its graph's input is input_ids), so it cannot run a request of input embeddings (capability "
                    + "INPUT_EMBEDS)" + (embeddings != null ? "; open the llama2c checkpoint with option "
                    + "input_embeds=true (graph=reference) to get its input-embeddings graph" : "; export the decoder "
                    + "with an inputs_embeds input instead"));
        }
        if (tokens != null && sig.embeds && embeddings == null) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "model '" + card.name() + "' (" + file
                    + ") takes inputs_embeds and its embedding table is unknown, so token ids cannot be embedded; send "
                    + "ForwardRequest.builderForEmbeddings(...) requests, or open a llama2.c checkpoint with format "
                    + "llama2c, whose token_embedding the backend gathers");
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
        Capability needed = spec.requiredCapability();
        if (needed != null && !card.supports(needed)) {
            throw refuse(spec, needed);
        }
        boolean[][] newValid = spec instanceof AttentionSpec.WithPadding p ? p.newTokenValid() : null;
        if (newValid != null) {
            checkMatrix("newTokenValid", newValid.length, batch, b -> newValid[b] == null ? -1 : newValid[b].length,
                    lq);
        }
        if (fused != null) {
            int[][] rows = req.logitRows();
            if (rows != null) {
                checkLogitRows(rows, batch, lq);
            }
            return fused.forward(req, tokens, lq, rows); // a fused graph takes input_ids, so tokens != null
        }
        if (req.write() instanceof StateWrite.At && sig.hasConvState()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "StateWrite.At is not supported by model '"
                    + card.name() + "' (no STATE_WRITE_AT capability): its convolution state ("
                    + String.join(", ", sig.convPastNames) + ") has no slots to rewrite, it summarises every token "
                    + "fed; append new tokens to a fork() of the state instead");
        }
        if (req.write() instanceof StateWrite.At && !sig.hasBias) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "StateWrite.At is not supported by the "
                    + "onnxruntime backend for '" + card.name() + "' (no STATE_WRITE_AT capability): its graph has no "
                    + "attention_bias input, so the slots being rewritten cannot be hidden from the new tokens; "
                    + "truncate or compact the state and append instead");
        }
        OnnxDecodeState state = null;
        if (req.state() != null) {
            if (!(req.state() instanceof OnnxDecodeState s) || s.owner() != this) {
                throw ArborException.invalid("the decode state was not created by this backend ('" + card.name()
                        + "'); use newState() of the backend that runs the request");
            }
            if (s.isClosed()) {
                throw ArborException.invalid("the decode state passed to forward on '" + card.name()
                        + "' is closed");
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
        boolean keepPresents = append || writeSlots != null;
        int past = state == null ? 0 : state.length();
        int total = past + lq;
        int[][] positions = req.positions() != null ? req.positions() : defaultPositions(state, newValid, batch, lq);
        checkPositions(positions, batch, lq, req.positions() == null);
        int[][] logitRows = req.logitRows();
        if (logitRows != null) {
            checkLogitRows(logitRows, batch, lq);
        }
        if (sig.positionType == null && req.positions() != null) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "model '" + card.name() + "' has no "
                    + "position_ids input, so explicit positions cannot be honoured");
        }

        Scratch scratch = state != null ? state.scratch() : new Scratch();
        List<OnnxTensor> created = new ArrayList<>(4);
        OrtSession.Result result = null;
        boolean presentsTaken = false;
        try {
            Map<String, OnnxTensor> inputs = new HashMap<>(2 * (sig.pastNames.length + 4));
            long[] shape2 = {batch, lq};
            if (sig.embeds) {
                inputs.put(DecoderSignature.INPUTS_EMBEDS, add(created, embedsTensor(scratch, tokens, embeds, batch,
                        lq)));
            } else {
                scratch.ids = Scratch.ensure(scratch.ids, batch * lq * bytes(sig.idsType));
                inputs.put(DecoderSignature.INPUT_IDS, add(created, intTensor(scratch.ids, sig.idsType, tokens,
                        shape2)));
            }
            if (sig.positionType != null) {
                scratch.positions = Scratch.ensure(scratch.positions, batch * lq * bytes(sig.positionType));
                inputs.put(DecoderSignature.POSITION_IDS,
                        add(created, intTensor(scratch.positions, sig.positionType, positions, shape2)));
            }
            if (sig.maskType != null) {
                inputs.put(DecoderSignature.ATTENTION_MASK,
                        add(created, maskTensor(scratch, state, newValid, batch, past, lq)));
            }
            if (sig.hasBias) {
                inputs.put(DecoderSignature.ATTENTION_BIAS,
                        add(created, biasTensor(scratch, spec.base(), state, newValid, batch, past, lq)));
            }
            OnnxTensor[] pastTensors = state == null ? null : state.pastTensors();
            for (int i = 0; i < sig.pastNames.length; i++) {
                inputs.put(sig.pastNames[i], pastTensors != null ? pastTensors[i] : emptyPast(batch));
            }
            if (sig.hasConvState()) {
                OnnxTensor[] convTensors = state == null ? null : state.convTensors();
                if (convTensors == null) {
                    convTensors = emptyConv(batch).tensors;
                }
                for (int i = 0; i < sig.convPastNames.length; i++) {
                    inputs.put(sig.convPastNames[i], convTensors[i]);
                }
            }
            OnnxTensor logits = scratch.logits(env, new long[] {batch, lq, card.vocabSize()});
            result = session.run(inputs, keepPresents ? presentOutputs : Set.of(),
                    Map.of(DecoderSignature.LOGITS, logits));
            float[][][] out = readLogits(scratch.logitsData(), batch, lq, logitRows);
            if (keepPresents) {
                OnnxTensor[] presents = new OnnxTensor[sig.presentNames.length];
                for (int i = 0; i < presents.length; i++) {
                    OnnxValue v = result.get(sig.presentNames[i]).orElseThrow();
                    presents[i] = (OnnxTensor) v;
                }
                OnnxTensor[] convPresents = new OnnxTensor[sig.convPresentNames.length];
                for (int i = 0; i < convPresents.length; i++) {
                    convPresents[i] = (OnnxTensor) result.get(sig.convPresentNames[i]).orElseThrow();
                }
                presentsTaken = true;
                if (append) {
                    state.append(presents, newValid, lq);
                    if (convPresents.length > 0) {
                        state.replaceConv(convPresents);
                    }
                } else {
                    state.writeAt(presents, writeSlots, newValid);
                }
            }
            return new ForwardResult(out, null);
        } catch (OrtException e) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "ONNX Runtime failed on '" + file + "' for "
                    + batch + " row(s) x " + lq + " new token(s) after " + past + " cached slot(s) (total " + total
                    + "): " + e.getMessage(), e);
        } finally {
            for (OnnxTensor t : created) {
                t.close();
            }
            if (result != null && !presentsTaken) {
                result.close(); // frees presents not kept; the pinned logits tensor is not owned by the result
            }
            if (state == null) {
                scratch.close();
            }
        }
    }

    private void checkTokens(int[][] tokens, int batch, int lq) {
        RequestChecks.tokens(tokens, batch, lq, card);
    }

    private void checkEmbeddings(float[][][] embeds, int batch, int lq) {
        RequestChecks.embeddings(embeds, batch, lq, embeddingWidth(), card, "inputs_embeds");
    }

    /** The width of inputs_embeds: as declared, else the model's hidden size, else the embedding table's. */
    private int embeddingWidth() {
        if (sig.embedsWidth > 0) {
            return sig.embedsWidth;
        }
        if (card.hiddenSize() > 0) {
            return card.hiddenSize();
        }
        if (embeddings != null) {
            return embeddings.size();
        }
        throw ArborException.badModel("ONNX model '" + file + "' leaves the width of inputs_embeds symbolic and no "
                + "arbor.hidden_size metadata or config gives it", null);
    }

    /**
     * inputs_embeds [batch, lq, width]: the request's embeddings, or for token ids the rows of the embedding table
     * (the gather the graph would do for input_ids; {@link #run} checked the table exists).
     */
    private OnnxTensor embedsTensor(Scratch scratch, int[][] tokens, float[][][] embeds, int batch, int lq)
            throws OrtException {
        int width = embeddingWidth();
        long floats = (long) batch * lq * width;
        if (floats * Float.BYTES > Integer.MAX_VALUE - 8) {
            throw ArborException.invalid("inputs_embeds of " + batch + " x " + lq + " x " + width + " exceed 2 GiB; "
                    + "split the request into smaller chunks");
        }
        scratch.embeds = Scratch.ensure(scratch.embeds, (int) floats * Float.BYTES);
        FloatBuffer fb = scratch.embeds.asFloatBuffer();
        for (int b = 0; b < batch; b++) {
            for (int j = 0; j < lq; j++) {
                if (tokens != null) {
                    embeddings.put(tokens[b][j], width, fb);
                } else {
                    fb.put(embeds[b][j]);
                }
            }
        }
        fb.flip();
        return OnnxTensor.createTensor(env, fb, new long[] {batch, lq, width});
    }

    private static OnnxTensor add(List<OnnxTensor> created, OnnxTensor t) {
        created.add(t);
        return t;
    }

    private static int bytes(OnnxJavaType type) {
        return type == OnnxJavaType.INT64 ? Long.BYTES : Integer.BYTES;
    }

    private OnnxTensor intTensor(ByteBuffer buf, OnnxJavaType type, int[][] values, long[] shape)
            throws OrtException {
        if (type == OnnxJavaType.INT64) {
            LongBuffer lb = buf.asLongBuffer();
            for (int[] row : values) {
                for (int v : row) {
                    lb.put(v);
                }
            }
            lb.flip();
            return OnnxTensor.createTensor(env, lb, shape);
        }
        IntBuffer ib = buf.asIntBuffer();
        for (int[] row : values) {
            ib.put(row);
        }
        ib.flip();
        return OnnxTensor.createTensor(env, ib, shape);
    }

    /** attention_mask [batch, past+lq]: 1 for real tokens, 0 for padding slots and padding new tokens. */
    private OnnxTensor maskTensor(Scratch scratch, OnnxDecodeState state, boolean[][] newValid, int batch, int past,
                                  int lq) throws OrtException {
        int total = past + lq;
        boolean int64 = sig.maskType == OnnxJavaType.INT64;
        scratch.mask = Scratch.ensure(scratch.mask, batch * total * (int64 ? Long.BYTES : Integer.BYTES));
        LongBuffer lb = int64 ? scratch.mask.asLongBuffer() : null;
        IntBuffer ib = int64 ? null : scratch.mask.asIntBuffer();
        for (int b = 0; b < batch; b++) {
            for (int k = 0; k < total; k++) {
                boolean visible = k < past ? state.slotValid(b, k) : newValid == null || newValid[b][k - past];
                if (int64) {
                    lb.put(visible ? 1L : 0L);
                } else {
                    ib.put(visible ? 1 : 0);
                }
            }
        }
        long[] shape = {batch, total};
        if (int64) {
            lb.flip();
            return OnnxTensor.createTensor(env, lb, shape);
        }
        ib.flip();
        return OnnxTensor.createTensor(env, ib, shape);
    }

    /** attention_bias [batch, 1, lq, past+lq]: 0 where query j may see key k, {@link #HIDDEN} elsewhere. */
    private OnnxTensor biasTensor(Scratch scratch, AttentionSpec base, OnnxDecodeState state, boolean[][] newValid,
                                  int batch, int past, int lq) throws OrtException {
        int total = past + lq;
        AttentionSpec.Segments segments = base instanceof AttentionSpec.Segments s ? s : null;
        AttentionSpec.Explicit explicit = base instanceof AttentionSpec.Explicit e ? e : null;
        if (segments != null) {
            checkMatrix("querySegment", segments.querySegment().length, batch,
                    b -> segments.querySegment()[b] == null ? -1 : segments.querySegment()[b].length, lq);
            checkMatrix("keySegment", segments.keySegment().length, batch,
                    b -> segments.keySegment()[b] == null ? -1 : segments.keySegment()[b].length, total);
        }
        if (explicit != null) {
            checkMatrix("visible", explicit.visible().length, batch,
                    b -> explicit.visible()[b] == null ? -1 : explicit.visible()[b].length, lq);
        }
        boolean full = base instanceof AttentionSpec.Full;
        long cells = (long) batch * lq * total;
        if (cells * Float.BYTES > Integer.MAX_VALUE - 8) {
            throw ArborException.invalid("attention bias of " + batch + " x " + lq + " x " + total + " exceeds 2 GiB; "
                    + "split the request into smaller chunks");
        }
        scratch.bias = Scratch.ensure(scratch.bias, (int) cells * Float.BYTES);
        if (scratch.biasRow.length < total) {
            scratch.biasRow = new float[Math.max(total, 2 * scratch.biasRow.length)];
        }
        float[] row = scratch.biasRow;
        FloatBuffer fb = scratch.bias.asFloatBuffer();
        for (int b = 0; b < batch; b++) {
            for (int q = 0; q < lq; q++) {
                boolean queryValid = newValid == null || newValid[b][q];
                BitSet bits = explicit != null ? explicit.visible()[b][q] : null;
                if (explicit != null && bits == null) {
                    throw ArborException.invalid("Explicit attention: visible[" + b + "][" + q + "] is null");
                }
                for (int k = 0; k < total; k++) {
                    boolean keyValid = k < past ? state.slotValid(b, k) : newValid == null || newValid[b][k - past];
                    boolean visible;
                    if (!queryValid) {
                        visible = k == past + q; // padding query: itself only, keeps activations finite
                    } else if (!keyValid) {
                        visible = false;
                    } else if (full) {
                        visible = true;
                    } else if (segments != null) {
                        visible = segments.keySegment()[b][k] <= segments.querySegment()[b][q];
                    } else if (explicit != null) {
                        visible = bits.get(k);
                    } else {
                        visible = k <= past + q;
                    }
                    row[k] = visible ? 0f : HIDDEN;
                }
                fb.put(row, 0, total);
            }
        }
        fb.flip();
        return OnnxTensor.createTensor(env, fb, new long[] {batch, 1, lq, total});
    }

    /** A zero-length past tensor for {@code batch} rows, shared by every layer and cached per batch size. */
    private OnnxTensor emptyPast(int batch) throws OrtException {
        OnnxTensor t = emptyPast.get(batch);
        if (t != null) {
            return t;
        }
        t = OnnxTensor.createTensor(env, FloatBuffer.allocate(0), sig.kvShape(batch, 0));
        OnnxTensor raced = emptyPast.putIfAbsent(batch, t);
        if (raced != null) {
            t.close();
            return raced;
        }
        return t;
    }

    /** The zero convolution state for {@code batch} rows, shared by every stateless or empty-state forward. */
    private ConvBlock emptyConv(int batch) throws OrtException {
        ConvBlock c = emptyConv.get(batch);
        if (c != null) {
            return c;
        }
        c = ConvBlock.zeros(env, sig, batch);
        ConvBlock raced = emptyConv.putIfAbsent(batch, c);
        if (raced != null) {
            c.release();
            return raced;
        }
        return c;
    }

    private float[][][] readLogits(FloatBuffer data, int batch, int lq, int[][] logitRows) {
        int vocab = card.vocabSize();
        float[][][] out = new float[batch][][];
        for (int b = 0; b < batch; b++) {
            int n = logitRows == null ? lq : logitRows[b].length;
            out[b] = new float[n][vocab];
            for (int i = 0; i < n; i++) {
                int row = logitRows == null ? i : logitRows[b][i];
                data.get(((b * lq) + row) * vocab, out[b][i], 0, vocab);
            }
        }
        return out;
    }

    private static int[][] defaultPositions(OnnxDecodeState state, boolean[][] newValid, int batch, int lq) {
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

    /** Positions must exist in the model's position table; defaults run out when a row's context is full. */
    private void checkPositions(int[][] positions, int batch, int lq, boolean defaults) {
        checkMatrix("positions", positions.length, batch, b -> positions[b] == null ? -1 : positions[b].length, lq);
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

    private void checkLogitRows(int[][] logitRows, int batch, int lq) {
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

    private static void checkMatrix(String what, int rows, int batch, java.util.function.IntUnaryOperator width,
                                    int expected) {
        if (rows != batch) {
            throw ArborException.invalid(what + " has " + rows + " rows, the request has " + batch);
        }
        for (int b = 0; b < batch; b++) {
            int w = width.applyAsInt(b);
            if (w != expected) {
                throw ArborException.invalid(what + "[" + b + "] has " + (w < 0 ? "no entries" : w + " entries")
                        + ", expected " + expected);
            }
        }
    }

    private ArborException refuse(AttentionSpec spec, Capability needed) {
        String reason = sig.hasBias ? "" : sig.maskType != null
                ? ": its graph takes attention_mask but no attention_bias input, so it builds the causal mask "
                + "internally and can only run Causal attention (with left padding through the mask)"
                : ": its graph has neither attention_mask nor attention_bias, so it can only run Causal attention "
                + "on unpadded rows";
        return new ArborException(ArborException.Kind.INCOMPATIBLE, "attention spec "
                + spec.getClass().getSimpleName() + (spec instanceof AttentionSpec.WithPadding p
                ? "(" + p.base().getClass().getSimpleName() + ")" : "") + " needs capability " + needed
                + ", which model '" + card.name() + "' does not support" + reason + ". Supported: "
                + card.capabilities());
    }

    /** Waits for in-flight forward calls, then frees the session; idempotent. States stay closable. */
    @Override
    public void close() {
        Lock write = lock.writeLock();
        write.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            if (fused != null) {
                fused.close();
            }
            emptyPast.values().forEach(OnnxTensor::close);
            emptyPast.clear();
            emptyConv.values().forEach(ConvBlock::release);
            emptyConv.clear();
            closeQuietly(session);
        } finally {
            write.unlock();
        }
        if (onClose != null) {
            onClose.accept(this);
        }
    }

    private static void closeQuietly(OrtSession session) {
        try {
            session.close();
        } catch (OrtException e) {
            LOG.warning(() -> "closing an ONNX Runtime session failed: " + e.getMessage());
        }
    }

    @Override
    public String toString() {
        return "OnnxDecoderBackend[" + file + ", " + device + ", " + sig.describe() + "]";
    }
}
