package dev.arbor.models.llama2c;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.arbor.api.ArborException;
import dev.arbor.api.model.NativeAttention;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * Converts a llama2.c checkpoint into an ONNX decoder graph (opset 17, standard operators only) that computes
 * llama2.c's run.c forward pass with an explicit KV cache and an additive attention bias, following the Arbor
 * llama2.c ONNX contract:
 * <ul>
 *   <li>inputs {@code input_ids} int64 [batch, seq], {@code position_ids} int64 [batch, seq],
 *       {@code attention_bias} float32 [batch, 1, seq, past_seq + seq] (0 visible, -1e9 hidden), and per layer i
 *       {@code past_key_values.i.key/value} float32 [batch, n_kv_heads, past_seq, head_dim];</li>
 *   <li>outputs {@code logits} float32 [batch, seq, vocab] and {@code present.i.key/value} (past concatenated with
 *       the new keys/values, keys after rotary embedding);</li>
 *   <li>run.c's interleaved RoPE from cos/sin tables [seq_len, head_size/2] gathered by {@code position_ids},
 *       grouped-query attention (query head h reads kv head h / (n_heads / n_kv_heads)), RMSNorm eps 1e-5,
 *       SwiGLU, final RMSNorm and the (possibly shared) classifier;</li>
 *   <li>{@code metadata_props}: arbor.format, vocab_size, max_positions, hidden_size, num_layers, num_heads,
 *       num_kv_heads, head_dim, bos_token_id, eos_token_ids, source_sha256.</li>
 * </ul>
 * Weight matrices are stored transposed ([in, out]) so that each projection is one MatMul. That is the reference
 * graph ({@link Llama2cPrecision#REFERENCE_FP32}, the default and the exactness reference).
 *
 * <p>The input-embeddings variant of the reference graph ({@link #takesInputEmbeddings}: the card's attention is
 * {@link NativeAttention#SCALE_CAUSAL}, whose positions after the first take feature embeddings rather than tokens;
 * the card declares output heads (Token-Shuffle's merged windows) or a continuous head (continuous tokens); or the
 * caller asks for it) has first input {@code inputs_embeds} float32 [batch, seq, dim] (HF Optimum's name) in
 * place of {@code input_ids} and skips the embedding gather; everything else is as above. A caller holding token
 * ids gathers rows of the checkpoint's {@code token_embedding_table} itself.
 *
 * <p>A fused graph ({@link Llama2cPrecision#fused()}, built by {@link Llama2cFusedGraph} from ONNX Runtime contrib
 * operators, fp32 or int8/int4 MatMulNBits weights) has its own contract:
 * <ul>
 *   <li>inputs {@code input_ids} int64 [batch, seq], {@code position_ids} int64 [batch, seq], {@code seqlens_k}
 *       int32 [batch] (per row: its tokens after this call, minus 1), {@code total_sequence_length} int32 scalar
 *       (the largest number of tokens any row has after this call), {@code attention_bias} float32 [batch, 1, seq,
 *       total_sequence_length] (0 visible, {@link #HIDDEN_BIAS} hidden; column j is buffer slot j; it is added on
 *       top of GroupQueryAttention's causal mask, so it can hide keys, e.g. a speculative tree's siblings, but never
 *       show a later slot) and per layer i
 *       {@code past_key_values.i.key/value} float32 [batch, n_kv_heads, max_positions, head_dim]: a buffer of
 *       capacity max_positions per row whose first {@code seqlens_k[row] + 1 - seq} slots hold the row's past;</li>
 *   <li>outputs {@code logits} float32 [batch, seq, vocab] and {@code present.i.key/value} of the past's shape:
 *       the past with this call's keys/values written at each row's offset. Pass the same tensor as past input
 *       and as pinned present output and the kernel writes in place (no copy, no allocation);</li>
 *   <li>attention is causal within each row; several rows with seq &gt; 1 are a right-padded first prompt (no
 *       past); seq &gt; 1 over a non-empty past (chunked prefill) needs batch 1 (GroupQueryAttention's rule);</li>
 *   <li>{@code metadata_props} as above plus {@code arbor.graph=fused} and {@code arbor.precision}.</li>
 * </ul>
 */
public final class Llama2cOnnxConverter {
    /**
     * Bumped whenever the generated graph or the cache layout changes, so stale cache entries are not reused
     * (3: no unused initializers; a verified digest beside each cached file).
     */
    public static final int CONVERTER_VERSION = 3;
    /** The ONNX opset the graph uses (ReduceMean still takes axes as an attribute at 17). */
    public static final int OPSET = 17;
    /** The additive bias value that hides a key. */
    public static final float HIDDEN_BIAS = -1e9f;
    /** protobuf cannot serialise a message of 2 GiB or more; leave room for the graph itself. */
    private static final long MAX_WEIGHT_BYTES = (1L << 31) - (64L << 20);

    private Llama2cOnnxConverter() {
    }

    /**
     * The converted reference graph ({@link Llama2cPrecision#REFERENCE_FP32}) for {@code checkpoint}; see
     * {@link #convertCached(Path, int, Path, Llama2cPrecision)}.
     */
    public static Path convertCached(Path checkpoint, int keepLayers, Path cacheDir) {
        return convertCached(checkpoint, keepLayers, cacheDir, Llama2cPrecision.REFERENCE_FP32);
    }

    /**
     * The converted model for {@code checkpoint} as the graph {@code precision} names, keeping its first
     * {@code keepLayers} layers (0 = all), from {@code cacheDir} when converted before and the cached file still
     * verifies against its digest, else converted now and written atomically with its digest (see
     * {@link VerifiedCacheFile}; concurrent callers are safe: each move installs identical bytes). The reference
     * graph keeps the cache name it always had; a fused graph's name adds {@code -fused-<precision>}. The graph
     * takes {@code input_ids}, or {@code inputs_embeds} when {@link #takesInputEmbeddings} says so.
     *
     * @throws ArborException (NOT_FOUND / BAD_MODEL) naming the checkpoint when it is missing, truncated or
     *                        malformed; (INVALID_INPUT) for a bad keepLayers; (INCOMPATIBLE) for a fused graph of a
     *                        model whose card says its attention is not causal
     */
    public static Path convertCached(Path checkpoint, int keepLayers, Path cacheDir, Llama2cPrecision precision) {
        return convertCached(checkpoint, keepLayers, cacheDir, precision, false);
    }

    /**
     * As {@link #convertCached(Path, int, Path, Llama2cPrecision)}; {@code inputEmbeds} asks for the
     * input-embeddings graph even when the card's attention does not imply it (the cache name of an
     * input-embeddings graph adds {@code -embeds}).
     *
     * @throws ArborException (INCOMPATIBLE) when input embeddings are asked of (or implied for) a fused graph
     */
    public static Path convertCached(Path checkpoint, int keepLayers, Path cacheDir, Llama2cPrecision precision,
                                     boolean inputEmbeds) {
        if (keepLayers < 0) {
            throw ArborException.invalid("keepLayers must be 0 (all layers) or positive, got " + keepLayers);
        }
        String sha = memoisedSha256(checkpoint, cacheDir);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(checkpoint);
        // The card's facts go into the graph's metadata, so a changed sidecar must give a new cache entry.
        String key = card.sha256().isEmpty() ? sha : sha + "-card" + card.sha256().substring(0, 16);
        boolean embeds = takesInputEmbeddings(card, inputEmbeds);
        String variant = (precision.fused() ? "-" + precision.graph() + "-" + precision.precision() : "")
                + (embeds ? "-embeds" : "");
        Path target = cacheDir.resolve("llama2c-" + key + "-keep" + keepLayers + variant + "-v" + CONVERTER_VERSION
                + ".onnx");
        if (VerifiedCacheFile.usable(target)) {
            return target;
        }
        Llama2cCheckpoint weights = Llama2cCheckpoint.read(checkpoint);
        card.validateAgainst(weights.config(), checkpoint.toString());
        ModelProto model = build(weights, keepLayers, sha, card, precision, embeds);
        try {
            VerifiedCacheFile.write(target, model::writeTo);
            return target;
        } catch (IOException e) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "cannot write the converted ONNX model of "
                    + checkpoint + " into cache folder " + cacheDir + ": " + e.getMessage(), e);
        }
    }

    /** The serialised ONNX model of {@code weights} (first {@code keepLayers} layers, 0 = all). */
    public static byte[] toOnnx(Llama2cCheckpoint weights, int keepLayers, String sourceSha256) {
        return toOnnx(weights, keepLayers, sourceSha256, Llama2cModelCard.forCheckpoint(Path.of(weights.source())));
    }

    /** As {@link #toOnnx(Llama2cCheckpoint, int, String)} with the card's facts written into the metadata. */
    public static byte[] toOnnx(Llama2cCheckpoint weights, int keepLayers, String sourceSha256,
                                Llama2cModelCard card) {
        return toOnnx(weights, keepLayers, sourceSha256, card, Llama2cPrecision.REFERENCE_FP32);
    }

    /** As {@link #toOnnx(Llama2cCheckpoint, int, String, Llama2cModelCard)} for the graph {@code precision} names. */
    public static byte[] toOnnx(Llama2cCheckpoint weights, int keepLayers, String sourceSha256,
                                Llama2cModelCard card, Llama2cPrecision precision) {
        return toOnnx(weights, keepLayers, sourceSha256, card, precision, false);
    }

    /**
     * As {@link #toOnnx(Llama2cCheckpoint, int, String, Llama2cModelCard, Llama2cPrecision)}, the input-embeddings
     * graph when {@link #takesInputEmbeddings}{@code (card, inputEmbeds)}.
     */
    public static byte[] toOnnx(Llama2cCheckpoint weights, int keepLayers, String sourceSha256,
                                Llama2cModelCard card, Llama2cPrecision precision, boolean inputEmbeds) {
        return build(weights, keepLayers, sourceSha256, card.validateAgainst(weights.config(), weights.source()),
                precision, takesInputEmbeddings(card, inputEmbeds)).toByteArray();
    }

    /**
     * Whether the converted graph takes {@code inputs_embeds}: when {@code requested}, or when the card's attention
     * is {@link NativeAttention#SCALE_CAUSAL} (VAR next-scale models feed feature embeddings for every scale after
     * the first, so their graph must accept embeddings; token ids still work through a gather in the caller).
     */
    public static boolean takesInputEmbeddings(Llama2cModelCard card, boolean requested) {
        // next-scale inputs, merged Token-Shuffle windows and continuous tokens are all embedding mixtures
        return requested || card.attention() == NativeAttention.SCALE_CAUSAL || card.outputHeads() > 1
                || card.continuousHead() != null;
    }

    /**
     * A fused model of all of {@code weights}' layers with explicit MatMulNBits parameters, for the measurements that
     * chose the defaults ({@link #convertCached} always uses those).
     */
    static byte[] toFusedOnnx(Llama2cCheckpoint weights, Llama2cModelCard card, Llama2cPrecision precision,
                              Llama2cFusedGraph.Quantization quantization) {
        return fusedModel(weights, "", card, precision, quantization).toByteArray();
    }

    /** {@link #sha256} through the digest memo in {@code cacheDir} ({@link FileDigestMemo}). */
    private static String memoisedSha256(Path checkpoint, Path cacheDir) {
        try {
            return FileDigestMemo.sha256(checkpoint, cacheDir, Llama2cOnnxConverter::sha256);
        } catch (NoSuchFileException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "llama2.c checkpoint " + checkpoint
                    + " does not exist", e);
        } catch (IOException e) {
            throw ArborException.badModel("cannot read llama2.c checkpoint " + checkpoint + ": " + e.getMessage(), e);
        }
    }

    /** Hex SHA-256 of a file's bytes. */
    public static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                digest.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchFileException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "llama2.c checkpoint " + file + " does not exist",
                    e);
        } catch (IOException e) {
            throw ArborException.badModel("cannot read llama2.c checkpoint " + file + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    private static ModelProto build(Llama2cCheckpoint full, int keepLayers, String sha, Llama2cModelCard card,
                                    Llama2cPrecision precision, boolean embeds) {
        Llama2cCheckpoint w = full.withLayers(keepLayers);
        Llama2cConfig c = w.config();
        long weightBytes = 4L * c.fileFloatCount();
        if (weightBytes > MAX_WEIGHT_BYTES) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "llama2.c checkpoint " + w.source() + " has "
                    + weightBytes + " bytes of weights, more than a single-file ONNX model can hold (2 GiB); "
                    + "use keepLayers to convert fewer layers");
        }
        if (!precision.fused()) {
            return model(referenceGraph(w, embeds), c, sha, card, null);
        }
        if (embeds) {
            // GroupQueryAttention graphs gather their own embeddings; only the reference graph has an embeds input.
            boolean scale = card.attention() == NativeAttention.SCALE_CAUSAL;
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "llama2.c model " + w.source() + " needs "
                    + "an input-embeddings graph (" + (scale ? "its card's attention is SCALE_CAUSAL"
                    : "option input_embeds=true") + "), but the fused graph (graph=fused, precision="
                    + precision.precision() + ") takes token ids only; use graph=reference precision=fp32"
                    + (scale ? "" : ", or drop input_embeds"));
        }
        return fusedModel(w, sha, card, precision, Llama2cFusedGraph.Quantization.DEFAULT);
    }

    private static ModelProto fusedModel(Llama2cCheckpoint w, String sha, Llama2cModelCard card,
                                         Llama2cPrecision precision, Llama2cFusedGraph.Quantization quantization) {
        if (card.attention() != NativeAttention.CAUSAL) {
            // GroupQueryAttention is always causal; only the reference graph's attention_bias can express others.
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "llama2.c model " + w.source() + " uses "
                    + card.attention() + " attention, but the fused graph (graph=fused, precision="
                    + precision.precision() + ") computes only causal attention; use graph=reference precision=fp32");
        }
        return model(Llama2cFusedGraph.build(w, precision, quantization), w.config(), sha, card, precision);
    }

    /**
     * run.c's forward pass in standard operators (the reference graph; the class comment has its contract), taking
     * {@code inputs_embeds} instead of {@code input_ids} when {@code embeds}.
     */
    private static GraphProto.Builder referenceGraph(Llama2cCheckpoint w, boolean embeds) {
        Llama2cConfig c = w.config();
        OnnxGraphBuilder g = new OnnxGraphBuilder();
        int dim = c.dim();
        int hs = c.headSize();
        int half = hs / 2;
        int kv = c.kvDim();
        int nH = c.nHeads();
        int nKv = c.nKvHeads();

        if (embeds) {
            g.input("inputs_embeds", TensorProto.DataType.FLOAT, "batch", "seq", dim);
        } else {
            g.input("input_ids", TensorProto.DataType.INT64, "batch", "seq");
        }
        g.input("position_ids", TensorProto.DataType.INT64, "batch", "seq");
        g.input("attention_bias", TensorProto.DataType.FLOAT, "batch", 1, "seq", "total_seq");
        for (int l = 0; l < c.nLayers(); l++) {
            g.input("past_key_values." + l + ".key", TensorProto.DataType.FLOAT, "batch", nKv, "past_seq", hs);
            g.input("past_key_values." + l + ".value", TensorProto.DataType.FLOAT, "batch", nKv, "past_seq", hs);
        }
        g.output("logits", "batch", "seq", c.vocabSize());
        for (int l = 0; l < c.nLayers(); l++) {
            g.output("present." + l + ".key", "batch", nKv, "total_seq", hs);
            g.output("present." + l + ".value", "batch", nKv, "total_seq", hs);
        }

        // Constants shared by every layer.
        g.floats("eps", new float[] {Llama2cReferenceModel.RMS_EPS}, 1);
        g.floats("one", new float[] {1f}, 1);
        g.floats("attn_scale", new float[] {(float) Math.sqrt(hs)}, 1);
        g.longs("shape_q_pairs", 0, 0, nH, half, 2);
        g.longs("shape_kv_pairs", 0, 0, nKv, half, 2);
        g.longs("shape_q_heads", 0, 0, nH, hs);
        g.longs("shape_kv_heads", 0, 0, nKv, hs);
        g.longs("shape_model", 0, 0, dim);
        if (c.kvMul() > 1) {
            // only grouped-query attention repeats kv heads (repeatKv); ONNX Runtime warns about unused initializers
            g.longs("shape_gqa_expand", 1, 1, c.kvMul(), 1, 1);
            g.longs("shape_gqa_merge", 0, nH, -1, hs);
        }
        g.longs("axis2", 2);
        g.longs("axis4", 4);

        float[][] rope = Llama2cReferenceModel.ropeTables(c);
        g.floats("rope_cos", rope[0], c.seqLen(), half);
        g.floats("rope_sin", rope[1], c.seqLen(), half);
        // cos/sin for each token: [batch, seq, half] -> [batch, seq, 1, half], broadcast over heads.
        String cos = g.node("Unsqueeze", List.of(g.node("Gather", List.of("rope_cos", "position_ids")), "axis2"));
        String sin = g.node("Unsqueeze", List.of(g.node("Gather", List.of("rope_sin", "position_ids")), "axis2"));

        if (!embeds || c.sharedClassifier()) {
            // An embeds graph keeps the table only as the shared classifier (an unused initializer draws a warning).
            g.floats("token_embedding", w.tokenEmbedding(), c.vocabSize(), dim);
        }
        String x = embeds ? "inputs_embeds" : g.node("Gather", List.of("token_embedding", "input_ids"));
        for (int l = 0; l < c.nLayers(); l++) {
            String p = "layers." + l + ".";
            g.floats(p + "rms_att", w.rmsAtt(l), dim);
            g.floats(p + "wq_t", transpose(w.wq(l), dim, dim), dim, dim);
            g.floats(p + "wk_t", transpose(w.wk(l), kv, dim), dim, kv);
            g.floats(p + "wv_t", transpose(w.wv(l), kv, dim), dim, kv);
            g.floats(p + "wo_t", transpose(w.wo(l), dim, dim), dim, dim);
            g.floats(p + "rms_ffn", w.rmsFfn(l), dim);
            g.floats(p + "w1_t", transpose(w.w1(l), c.hiddenDim(), dim), dim, c.hiddenDim());
            g.floats(p + "w3_t", transpose(w.w3(l), c.hiddenDim(), dim), dim, c.hiddenDim());
            g.floats(p + "w2_t", transpose(w.w2(l), dim, c.hiddenDim()), c.hiddenDim(), dim);

            String h = rmsNorm(g, x, p + "rms_att");
            String q = rope(g, g.node("MatMul", List.of(h, p + "wq_t")), "shape_q_pairs", "shape_q_heads", cos, sin);
            String k = rope(g, g.node("MatMul", List.of(h, p + "wk_t")), "shape_kv_pairs", "shape_kv_heads", cos,
                    sin);
            String v = g.node("Reshape", List.of(g.node("MatMul", List.of(h, p + "wv_t")), "shape_kv_heads"));
            // [batch, seq, heads, hs] -> [batch, heads, seq, hs]
            String qT = g.node("Transpose", List.of(q), OnnxGraphBuilder.ints("perm", 0, 2, 1, 3));
            String kT = g.node("Transpose", List.of(k), OnnxGraphBuilder.ints("perm", 0, 2, 1, 3));
            String vT = g.node("Transpose", List.of(v), OnnxGraphBuilder.ints("perm", 0, 2, 1, 3));
            String presentK = g.nodeNamed("Concat", List.of("past_key_values." + l + ".key", kT),
                    "present." + l + ".key", OnnxGraphBuilder.intAttr("axis", 2));
            String presentV = g.nodeNamed("Concat", List.of("past_key_values." + l + ".value", vT),
                    "present." + l + ".value", OnnxGraphBuilder.intAttr("axis", 2));
            String kAll = repeatKv(g, presentK, c.kvMul());
            String vAll = repeatKv(g, presentV, c.kvMul());
            String scores = g.node("Div", List.of(
                    g.node("MatMul", List.of(qT, g.node("Transpose", List.of(kAll), OnnxGraphBuilder.ints("perm", 0, 1, 3, 2)))),
                    "attn_scale"));
            String probs = g.node("Softmax", List.of(g.node("Add", List.of(scores, "attention_bias"))),
                    OnnxGraphBuilder.intAttr("axis", -1));
            String ctx = g.node("Reshape", List.of(
                    g.node("Transpose", List.of(g.node("MatMul", List.of(probs, vAll))), OnnxGraphBuilder.ints("perm", 0, 2, 1, 3)),
                    "shape_model"));
            x = g.node("Add", List.of(x, g.node("MatMul", List.of(ctx, p + "wo_t"))));

            String f = rmsNorm(g, x, p + "rms_ffn");
            String gate = g.node("MatMul", List.of(f, p + "w1_t"));
            String silu = g.node("Mul", List.of(gate, g.node("Sigmoid", List.of(gate))));
            String up = g.node("MatMul", List.of(f, p + "w3_t"));
            String down = g.node("MatMul", List.of(g.node("Mul", List.of(silu, up)), p + "w2_t"));
            x = g.node("Add", List.of(x, down));
        }
        g.floats("rms_final", w.rmsFinal(), dim);
        String hFinal = rmsNorm(g, x, "rms_final");
        String wclsT;
        if (c.sharedClassifier()) {
            // Shared classifier: transpose the embedding in the graph rather than storing it twice.
            wclsT = g.node("Transpose", List.of("token_embedding"), OnnxGraphBuilder.ints("perm", 1, 0));
        } else {
            g.floats("wcls_t", transpose(w.wcls(), c.vocabSize(), dim), dim, c.vocabSize());
            wclsT = "wcls_t";
        }
        g.nodeNamed("MatMul", List.of(hFinal, wclsT), "logits");
        return g.finish("llama2c");
    }

    /**
     * The model around {@code graph} with the contract's metadata; a fused graph (non-null {@code fused}) also
     * imports the contrib-operator domain and says {@code arbor.graph=fused} and its {@code arbor.precision}.
     */
    private static ModelProto model(GraphProto.Builder graph, Llama2cConfig c, String sha, Llama2cModelCard card,
                                    Llama2cPrecision fused) {
        int dim = c.dim();
        int hs = c.headSize();
        int nH = c.nHeads();
        int nKv = c.nKvHeads();
        ModelProto.Builder m = ModelProto.newBuilder()
                .setIrVersion(8)
                .setProducerName("arbor-llama2c-converter")
                .setProducerVersion(String.valueOf(CONVERTER_VERSION))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET));
        if (fused != null) {
            m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(OnnxGraphBuilder.MS_DOMAIN).setVersion(1));
        }
        m.setGraph(graph);
        meta(m, "arbor.format", "llama2c");
        meta(m, "arbor.vocab_size", c.vocabSize());
        meta(m, "arbor.max_positions", c.seqLen());
        meta(m, "arbor.hidden_size", dim);
        meta(m, "arbor.num_layers", c.nLayers());
        meta(m, "arbor.num_heads", nH);
        meta(m, "arbor.num_kv_heads", nKv);
        meta(m, "arbor.head_dim", hs);
        // Without a sidecar the card holds run.c's facts: BOS 1, which doubles as the end of a story.
        if (card.bos().isPresent()) {
            meta(m, "arbor.bos_token_id", card.bos().getAsInt());
        }
        meta(m, "arbor.eos_token_ids", java.util.Arrays.stream(card.eos()).mapToObj(String::valueOf)
                .collect(java.util.stream.Collectors.joining(",")));
        if (card.pad().isPresent()) {
            meta(m, "arbor.pad_token_id", card.pad().getAsInt());
        }
        if (card.mask().isPresent()) {
            meta(m, "arbor.mask_token_id", card.mask().getAsInt());
        }
        meta(m, "arbor.alignment", card.alignment().name());
        meta(m, "arbor.attention", card.attention().name());
        meta(m, "arbor.block_size", card.blockSize());
        if (card.outputHeads() != 1) {
            meta(m, "arbor.output_heads", card.outputHeads());
        }
        if (card.continuousHead() != null) {
            meta(m, "arbor.continuous_head", card.continuousHead().spec());
        }
        meta(m, "arbor.name", card.name());
        meta(m, "arbor.source_sha256", sha == null ? "" : sha);
        if (fused != null) {
            meta(m, "arbor.graph", fused.graph());
            meta(m, "arbor.precision", fused.precision());
        }
        return m.build();
    }

    /** run.c's rmsnorm as graph nodes: weight * (x * 1/sqrt(mean(x^2) + eps)). */
    private static String rmsNorm(OnnxGraphBuilder g, String x, String weight) {
        String ms = g.node("ReduceMean", List.of(g.node("Mul", List.of(x, x))), OnnxGraphBuilder.ints("axes", -1),
                OnnxGraphBuilder.intAttr("keepdims", 1));
        String inv = g.node("Div", List.of("one", g.node("Sqrt", List.of(g.node("Add", List.of(ms, "eps"))))));
        return g.node("Mul", List.of(weight, g.node("Mul", List.of(x, inv))));
    }

    /**
     * run.c's RoPE on [batch, seq, heads*hs]: viewed as pairs (2j, 2j+1) per head,
     * (a, b) -> (a cos - b sin, a sin + b cos); returns [batch, seq, heads, hs].
     */
    private static String rope(OnnxGraphBuilder g, String t, String pairsShape, String headsShape, String cos, String sin) {
        String pairs = g.node("Reshape", List.of(t, pairsShape));
        List<String> ab = g.nodes("Split", List.of(pairs), 2, OnnxGraphBuilder.intAttr("axis", 4));
        String a = g.node("Squeeze", List.of(ab.get(0), "axis4"));
        String b = g.node("Squeeze", List.of(ab.get(1), "axis4"));
        String y0 = g.node("Sub", List.of(g.node("Mul", List.of(a, cos)), g.node("Mul", List.of(b, sin))));
        String y1 = g.node("Add", List.of(g.node("Mul", List.of(a, sin)), g.node("Mul", List.of(b, cos))));
        String joined = g.node("Concat", List.of(g.node("Unsqueeze", List.of(y0, "axis4")),
                g.node("Unsqueeze", List.of(y1, "axis4"))), OnnxGraphBuilder.intAttr("axis", 4));
        return g.node("Reshape", List.of(joined, headsShape));
    }

    /** [batch, n_kv, T, hs] -> [batch, n_heads, T, hs], each kv head repeated kv_mul times in a row (run.c). */
    private static String repeatKv(OnnxGraphBuilder g, String kv, int kvMul) {
        if (kvMul == 1) {
            return kv;
        }
        String expanded = g.node("Expand", List.of(g.node("Unsqueeze", List.of(kv, "axis2")), "shape_gqa_expand"));
        return g.node("Reshape", List.of(expanded, "shape_gqa_merge"));
    }

    /** [rows, cols] row-major -> [cols, rows] row-major. */
    static float[] transpose(float[] m, int rows, int cols) {
        float[] t = new float[m.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = m[r * cols + c];
            }
        }
        return t;
    }

    private static void meta(ModelProto.Builder m, String key, Object value) {
        m.addMetadataProps(StringStringEntryProto.newBuilder().setKey(key).setValue(String.valueOf(value)));
    }
}
