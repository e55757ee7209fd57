package dev.arbor.backend.onnxruntime;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.TensorInfo;
import dev.arbor.api.ArborException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The I/O convention of a decoder ONNX graph, detected from the session's declared input and output names and
 * types (never from the file name):
 * <ul>
 *   <li>HF Optimum: {@code past_key_values.N.key/value} to {@code present.N.key/value}, each
 *       [batch, kv_heads, seq, head_dim];</li>
 *   <li>onnxruntime-genai: {@code past_N} to {@code present_N} with K and V stacked, [2, batch, kv_heads, seq,
 *       head_dim];</li>
 *   <li>either of them plus {@code attention_bias} float [batch, 1, seq, past+seq] (Arbor's own exports), which
 *       lets the caller choose any visibility pattern instead of the graph's built-in causal mask;</li>
 *   <li>fused (GroupQueryAttention, onnxruntime-genai's model builder and Arbor's {@code graph=fused} exports):
 *       {@code seqlens_k} int32 [batch] (per row, the tokens held after the step minus 1) and
 *       {@code total_sequence_length} int32 scalar (their maximum plus 1) beside Optimum-named KV inputs
 *       [batch, kv_heads, capacity, head_dim] that the graph updates in place when fed as both past and present
 *       (see {@link KvArena}); no attention_mask, optionally attention_bias.</li>
 * </ul>
 * The first input is {@code input_ids} or, for a non-fused graph, {@code inputs_embeds} float32 [batch, seq, width]
 * (HF Optimum's name; Arbor's input-embeddings export of llama2.c models); {@code attention_mask} and
 * {@code position_ids} are optional, and id, mask and position inputs may be int32 or int64 (the declared type is
 * what gets fed).
 *
 * <p>Hybrid recurrent models (LFM2, onnxruntime-genai's {@code lfm2} type) add per convolution layer N an input
 * {@code past_conv.N} and an output {@code present_conv.N}, float [batch, channels, cache] with static channels and
 * cache: the rolling window of the layer's last inputs, which the graph reads and returns updated after every
 * forward (see {@link ConvBlock}). Their layers carry no KV, so the KV layer numbers skip them. Any other input is
 * refused with a message listing what was found and what is understood, so that a model with other state (the SSM
 * state of Mamba-style layers, for instance) fails loudly at load time instead of producing wrong tokens.
 */
final class DecoderSignature {
    static final String INPUT_IDS = "input_ids";
    static final String INPUTS_EMBEDS = "inputs_embeds";
    static final String ATTENTION_MASK = "attention_mask";
    static final String POSITION_IDS = "position_ids";
    static final String ATTENTION_BIAS = "attention_bias";
    static final String LOGITS = "logits";
    static final String SEQLENS_K = "seqlens_k";
    static final String TOTAL_SEQUENCE_LENGTH = "total_sequence_length";

    private static final Pattern OPTIMUM_PAST = Pattern.compile("past_key_values\\.(\\d+)\\.(key|value)");
    private static final Pattern GENAI_PAST = Pattern.compile("past_(\\d+)");
    /** onnxruntime-genai's default {@code past_conv_names} for LFM2 ({@code past_conv.%d}). */
    private static final Pattern CONV_PAST = Pattern.compile("past_conv\\.(\\d+)");
    private static final String EXPECTED = "input_ids (or inputs_embeds float [batch, seq, width]), optional "
            + "attention_mask, optional position_ids, optional attention_bias, and per layer N either past_key_values.N.key + past_key_values.N.value (HF Optimum) "
            + "or past_N (onnxruntime-genai, K and V stacked); or, for a fused (GroupQueryAttention) graph, input_ids, "
            + "optional position_ids, optional attention_bias, seqlens_k, total_sequence_length and "
            + "past_key_values.N.key/value; hybrid (LFM2) graphs add per convolution layer N past_conv.N float "
            + "[batch, channels, cache] with output present_conv.N";

    /** How the KV inputs are named and laid out. */
    enum KvNaming {
        /** One key and one value tensor per layer, [batch, kv_heads, seq, head_dim]. */
        OPTIMUM,
        /** One stacked tensor per layer, [2, batch, kv_heads, seq, head_dim]. */
        GENAI
    }

    final KvNaming naming;
    /** The type of input_ids; null when the graph takes inputs_embeds instead. */
    final OnnxJavaType idsType;
    /**
     * True when the graph's first input is {@code inputs_embeds} (float [batch, seq, width]) instead of input_ids.
     */
    final boolean embeds;
    /** The declared width of inputs_embeds, -1 when symbolic or when the graph takes input_ids. */
    final int embedsWidth;
    /** Null when the graph has no attention_mask input. */
    final OnnxJavaType maskType;
    /** Null when the graph has no position_ids input. */
    final OnnxJavaType positionType;
    final boolean hasBias;
    /**
     * True for the fused convention: the graph takes {@code seqlens_k} and {@code total_sequence_length} and writes
     * each step's keys and values into the past buffers in place (GroupQueryAttention's shared past/present).
     */
    final boolean fused;
    /** Rank of the fused graph's total_sequence_length input (0: scalar, 1: one-element vector); 0 when not fused. */
    final int totalRank;
    /** The sequence axis the KV inputs declare, or -1 when symbolic (a fused graph's buffer capacity). */
    final long pastSeqDim;
    /** Past input names, ordered by layer (key before value); {@link #presentNames} is aligned with it. */
    final String[] pastNames;
    final String[] presentNames;
    final int layers;
    final int kvHeads;
    final int headDim;
    /** The static vocabulary size of the logits output, or -1 when the graph leaves it symbolic. */
    final int logitsVocab;
    /** Convolution-state inputs ({@code past_conv.N}) ordered by layer, empty for pure attention graphs. */
    final String[] convPastNames;
    /** The {@code present_conv.N} outputs, aligned with {@link #convPastNames}. */
    final String[] convPresentNames;
    /** The layer number N of each convolution-state input. */
    final int[] convLayers;
    /** The KV layer numbers N, in the order of {@link #pastNames} (one per layer). */
    final int[] kvLayers;
    /** Per convolution-state input, its [channels, cache] (both static). */
    final long[][] convDims;

    private DecoderSignature(KvNaming naming, OnnxJavaType idsType, boolean embeds, int embedsWidth,
                             OnnxJavaType maskType, OnnxJavaType positionType, boolean hasBias, boolean fused,
                             int totalRank, long pastSeqDim, String[] pastNames,
                             String[] presentNames, int layers, int kvHeads, int headDim, int logitsVocab,
                             String[] convPastNames, String[] convPresentNames, int[] convLayers, int[] kvLayers,
                             long[][] convDims) {
        this.naming = naming;
        this.idsType = idsType;
        this.embeds = embeds;
        this.embedsWidth = embedsWidth;
        this.maskType = maskType;
        this.positionType = positionType;
        this.hasBias = hasBias;
        this.fused = fused;
        this.totalRank = totalRank;
        this.pastSeqDim = pastSeqDim;
        this.pastNames = pastNames;
        this.presentNames = presentNames;
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.logitsVocab = logitsVocab;
        this.convPastNames = convPastNames;
        this.convPresentNames = convPresentNames;
        this.convLayers = convLayers;
        this.kvLayers = kvLayers;
        this.convDims = convDims;
    }

    /**
     * True when the graph carries convolution state beside the KV cache: a state that depends on every token fed
     * and so cannot be rewound, compacted or overwritten at slots.
     */
    boolean hasConvState() {
        return convPastNames.length > 0;
    }

    /** The shape of convolution-state input {@code i} for {@code batch} rows. */
    long[] convShape(int i, int batch) {
        return new long[] {batch, convDims[i][0], convDims[i][1]};
    }

    /** Axis of the batch dimension in a KV tensor. */
    int batchAxis() {
        return naming == KvNaming.GENAI ? 1 : 0;
    }

    /** Axis of the sequence dimension in a KV tensor. */
    int seqAxis() {
        return naming == KvNaming.GENAI ? 3 : 2;
    }

    /** The shape of one KV tensor for {@code batch} rows and {@code seq} slots. */
    long[] kvShape(int batch, int seq) {
        return naming == KvNaming.GENAI
                ? new long[] {2, batch, kvHeads, seq, headDim}
                : new long[] {batch, kvHeads, seq, headDim};
    }

    /** A short description for logs and model cards. */
    String describe() {
        return (fused ? "fused (GroupQueryAttention, KV written in place)" : naming == KvNaming.GENAI
                ? "onnxruntime-genai" : "HF Optimum") + (hasBias ? " + attention_bias" : "")
                + ", " + layers + (hasConvState() ? " attention" : "") + " layers, " + kvHeads + " kv heads x " + headDim
                + (embeds ? ", inputs_embeds width " + (embedsWidth > 0 ? embedsWidth : "symbolic")
                : ", ids " + idsType)
                + (maskType != null ? ", attention_mask " + maskType : "")
                + (positionType != null ? ", position_ids " + positionType : "")
                + (hasConvState() ? ", convolution state in layers " + Arrays.toString(convLayers) + " ["
                + convDims[0][0] + " channels x " + convDims[0][1] + "]" : "");
    }

    /**
     * Reads the convention of {@code file} from its declared inputs and outputs.
     *
     * @param kvHeadsHint KV heads from side files or metadata, used when the graph leaves the dimension symbolic
     *                    (-1 when unknown)
     * @param headDimHint head size likewise (-1 when unknown)
     * @throws ArborException (BAD_MODEL) naming the file and the offending tensors
     */
    static DecoderSignature detect(Path file, Map<String, NodeInfo> inputs, Map<String, NodeInfo> outputs,
                                   int kvHeadsHint, int headDimHint) {
        TreeMap<Integer, List<String>> optimumLayers = new TreeMap<>();
        TreeMap<Integer, String> genaiLayers = new TreeMap<>();
        TreeMap<Integer, String> convLayers = new TreeMap<>();
        List<String> unsupported = new ArrayList<>();
        for (String name : inputs.keySet()) {
            Matcher m;
            if (name.equals(INPUT_IDS) || name.equals(INPUTS_EMBEDS) || name.equals(ATTENTION_MASK)
                    || name.equals(POSITION_IDS) || name.equals(ATTENTION_BIAS) || name.equals(SEQLENS_K) || name.equals(TOTAL_SEQUENCE_LENGTH)) {
                continue;
            }
            if ((m = CONV_PAST.matcher(name)).matches()) {
                convLayers.put(Integer.parseInt(m.group(1)), name);
            } else if ((m = OPTIMUM_PAST.matcher(name)).matches()) {
                optimumLayers.computeIfAbsent(Integer.parseInt(m.group(1)), k -> new ArrayList<>()).add(name);
            } else if ((m = GENAI_PAST.matcher(name)).matches()) {
                genaiLayers.put(Integer.parseInt(m.group(1)), name);
            } else {
                unsupported.add(name);
            }
        }
        String found = String.join(", ", inputs.keySet());
        if (!unsupported.isEmpty()) {
            boolean state = unsupported.stream().anyMatch(n -> n.startsWith("past") || n.contains("cache")
                    || n.contains("state"));
            throw ArborException.badModel("ONNX model '" + file + "' has inputs the onnxruntime backend does not "
                    + "support: " + String.join(", ", unsupported)
                    + (state ? " (recurrent state beside the attention KV cache; of such state only LFM2's "
                    + "convolution state past_conv.N is supported)" : "")
                    + ". Inputs found: " + found + ". Expected: " + EXPECTED + ".", null);
        }
        boolean embeds = inputs.containsKey(INPUTS_EMBEDS);
        if (embeds == inputs.containsKey(INPUT_IDS)) {
            throw ArborException.badModel("ONNX model '" + file + "' has " + (embeds ? "both 'input_ids' and "
                    + "'inputs_embeds' inputs; the onnxruntime backend feeds exactly one of them (export the decoder "
                    + "with one input)" : "neither an 'input_ids' nor an 'inputs_embeds' input") + ". Inputs found: "
                    + found + ". Expected: " + EXPECTED + ".", null);
        }
        if (!optimumLayers.isEmpty() && !genaiLayers.isEmpty()) {
            throw ArborException.badModel("ONNX model '" + file + "' mixes KV naming conventions (both "
                    + "past_key_values.N.* and past_N inputs). Inputs found: " + found + ".", null);
        }
        if (optimumLayers.isEmpty() && genaiLayers.isEmpty()) {
            throw ArborException.badModel("ONNX model '" + file + "' has no KV-cache inputs; the onnxruntime backend "
                    + "needs a decoder exported with past key values (Optimum 'with-past' / onnxruntime-genai). "
                    + "Inputs found: " + found + ". Expected: " + EXPECTED + ".", null);
        }
        if (!outputs.containsKey(LOGITS)) {
            throw ArborException.badModel("ONNX model '" + file + "' has no 'logits' output. Outputs found: "
                    + String.join(", ", outputs.keySet()) + ".", null);
        }

        KvNaming naming = optimumLayers.isEmpty() ? KvNaming.GENAI : KvNaming.OPTIMUM;
        boolean fused = inputs.containsKey(SEQLENS_K) || inputs.containsKey(TOTAL_SEQUENCE_LENGTH);
        if (fused) {
            checkFused(file, inputs, naming, found);
            if (embeds) {
                throw ArborException.badModel("ONNX model '" + file + "' is fused but takes inputs_embeds; the "
                        + "onnxruntime backend runs fused graphs on input_ids only (convert a llama2.c model that "
                        + "needs input embeddings with graph=reference precision=fp32). Inputs found: " + found + ".",
                        null);
            }
        }
        if (fused && !convLayers.isEmpty()) {
            throw ArborException.badModel("ONNX model '" + file + "' is fused and carries convolution state ("
                    + String.join(", ", convLayers.values()) + "); the onnxruntime backend runs convolution state "
                    + "on non-fused graphs only (export the hybrid model without GroupQueryAttention). Inputs found: "
                    + found + ".", null);
        }
        List<String> past = new ArrayList<>();
        List<String> present = new ArrayList<>();
        List<Integer> kvLayerNumbers = new ArrayList<>(naming == KvNaming.OPTIMUM ? optimumLayers.keySet()
                : genaiLayers.keySet());
        for (int layer : kvLayerNumbers) {
            if (convLayers.containsKey(layer)) {
                throw ArborException.badModel("ONNX model '" + file + "' has both KV and convolution state ("
                        + convLayers.get(layer) + ") for layer " + layer + "; a layer is either attention or "
                        + "convolution. Inputs found: " + found + ".", null);
            }
        }
        if (naming == KvNaming.OPTIMUM) {
            for (var e : optimumLayers.entrySet()) {
                int layer = e.getKey();
                TreeSet<String> names = new TreeSet<>(e.getValue());
                String key = "past_key_values." + layer + ".key";
                String value = "past_key_values." + layer + ".value";
                if (!names.contains(key) || !names.contains(value)) {
                    throw ArborException.badModel("ONNX model '" + file + "' has layer " + layer + " with only "
                            + names + "; both " + key + " and " + value + " are needed.", null);
                }
                past.add(key);
                present.add("present." + layer + ".key");
                past.add(value);
                present.add("present." + layer + ".value");
            }
        } else {
            for (var e : genaiLayers.entrySet()) {
                past.add(e.getValue());
                present.add("present_" + e.getKey());
            }
        }
        for (String p : present) {
            if (!outputs.containsKey(p)) {
                throw ArborException.badModel("ONNX model '" + file + "' lacks output '" + p + "' matching its KV "
                        + "input. Outputs found: " + String.join(", ", outputs.keySet()) + ".", null);
            }
        }

        OnnxJavaType ids = embeds ? null : integerType(file, inputs, INPUT_IDS, 2);
        int embedsWidth = -1;
        if (embeds) {
            long w = requireFloat(file, "input", INPUTS_EMBEDS, tensorInfo(file, inputs, INPUTS_EMBEDS), 3)
                    .getShape()[2];
            embedsWidth = w > 0 ? (int) w : -1;
        }
        OnnxJavaType mask = inputs.containsKey(ATTENTION_MASK) ? integerType(file, inputs, ATTENTION_MASK, 2) : null;
        OnnxJavaType pos = inputs.containsKey(POSITION_IDS) ? integerType(file, inputs, POSITION_IDS, 2) : null;
        boolean bias = inputs.containsKey(ATTENTION_BIAS);
        if (bias) {
            requireFloat(file, "input", ATTENTION_BIAS, tensorInfo(file, inputs, ATTENTION_BIAS), 4);
        }
        int rank = naming == KvNaming.GENAI ? 5 : 4;
        long[] first = null;
        for (int i = 0; i < past.size(); i++) {
            TensorInfo in = requireFloat(file, "input", past.get(i), tensorInfo(file, inputs, past.get(i)), rank);
            requireFloat(file, "output", present.get(i), tensorInfo(file, outputs, present.get(i)), rank);
            if (first == null) {
                first = in.getShape();
            } else if (!Arrays.equals(first, in.getShape())) {
                throw ArborException.badModel("ONNX model '" + file + "': KV input '" + past.get(i) + "' has shape "
                        + Arrays.toString(in.getShape()) + " but '" + past.get(0) + "' has "
                        + Arrays.toString(first) + "; all KV inputs must share one shape.", null);
            }
        }
        int headsAxis = naming == KvNaming.GENAI ? 2 : 1;
        int kvHeads = resolveDim(file, past.get(0), first, headsAxis, kvHeadsHint, "num_key_value_heads");
        int headDim = resolveDim(file, past.get(0), first, rank - 1, headDimHint, "head_size");
        TensorInfo logits = requireFloat(file, "output", LOGITS, tensorInfo(file, outputs, LOGITS), 3);
        long v = logits.getShape()[2];
        int layers = naming == KvNaming.GENAI ? past.size() : past.size() / 2;
        int totalRank = fused ? tensorInfo(file, inputs, TOTAL_SEQUENCE_LENGTH).getShape().length : 0;
        long seqDim = first[naming == KvNaming.GENAI ? 3 : 2];
        String[] convPast = convLayers.values().toArray(String[]::new);
        String[] convPresent = new String[convPast.length];
        long[][] convDims = new long[convPast.length][];
        int c = 0;
        for (var e : convLayers.entrySet()) {
            convPresent[c] = "present_conv." + e.getKey();
            convDims[c] = convDims(file, inputs, outputs, e.getValue(), convPresent[c]);
            c++;
        }
        return new DecoderSignature(naming, ids, embeds, embedsWidth, mask, pos, bias, fused, totalRank,
                seqDim > 0 ? seqDim : -1,
                past.toArray(String[]::new),
                present.toArray(String[]::new), layers, kvHeads, headDim, v > 0 ? (int) v : -1,
                convPast, convPresent, convLayers.keySet().stream().mapToInt(Integer::intValue).toArray(),
                kvLayerNumbers.stream().mapToInt(Integer::intValue).toArray(), convDims);
    }

    /**
     * [channels, cache] of a convolution-state input, which must be float [batch, channels, cache] with both static
     * (the backend allocates the zero state of a new request from them), and whose present output must exist with
     * the same shape.
     */
    private static long[] convDims(Path file, Map<String, NodeInfo> inputs, Map<String, NodeInfo> outputs,
                                   String past, String present) {
        if (!outputs.containsKey(present)) {
            throw ArborException.badModel("ONNX model '" + file + "' lacks output '" + present + "' matching its "
                    + "convolution-state input '" + past + "': without it the state of that layer cannot be carried "
                    + "to the next forward. Outputs found: " + String.join(", ", outputs.keySet()) + ".", null);
        }
        long[] in = requireFloat(file, "input", past, tensorInfo(file, inputs, past), 3).getShape();
        long[] out = requireFloat(file, "output", present, tensorInfo(file, outputs, present), 3).getShape();
        if (in[1] <= 0 || in[2] <= 0) {
            throw ArborException.badModel("ONNX model '" + file + "': convolution-state input '" + past + "' has "
                    + "shape " + Arrays.toString(in) + "; channels and cache (axes 1 and 2) must be static so that a "
                    + "new request's zero state can be allocated.", null);
        }
        if ((out[1] > 0 && out[1] != in[1]) || (out[2] > 0 && out[2] != in[2])) {
            throw ArborException.badModel("ONNX model '" + file + "': output '" + present + "' has shape "
                    + Arrays.toString(out) + " but input '" + past + "' has " + Arrays.toString(in) + "; the "
                    + "convolution state must keep its shape from one forward to the next.", null);
        }
        return new long[] {in[1], in[2]};
    }

    /**
     * Checks the graph's layers against onnxruntime-genai's {@code layer_types} and {@code conv_cache_size} (decoder
     * section of genai_config.json) where the config gives them: every "conv" layer must have convolution state of
     * that cache size and every other layer KV, so a config and a graph that disagree fail at load time.
     *
     * @param decoder the {@code model.decoder} map of genai_config.json (empty when there is none)
     */
    void checkLayerTypes(Path file, Map<?, ?> decoder) {
        if (decoder.get("conv_cache_size") instanceof Number n) {
            for (int i = 0; i < convPastNames.length; i++) {
                if (convDims[i][1] != n.longValue()) {
                    throw ArborException.badModel("ONNX model '" + file + "': genai_config.json says conv_cache_size "
                            + n + " but convolution-state input '" + convPastNames[i] + "' holds " + convDims[i][1]
                            + " steps.", null);
                }
            }
        }
        if (!(decoder.get("layer_types") instanceof List<?> types)) {
            return;
        }
        List<Integer> conv = new ArrayList<>();
        List<Integer> attention = new ArrayList<>();
        for (int i = 0; i < types.size(); i++) {
            (("conv".equals(types.get(i))) ? conv : attention).add(i);
        }
        List<Integer> graphConv = Arrays.stream(convLayers).boxed().toList();
        List<Integer> graphKv = Arrays.stream(kvLayers).boxed().toList();
        if (!conv.equals(graphConv) || !attention.equals(graphKv)) {
            throw ArborException.badModel("ONNX model '" + file + "': genai_config.json's layer_types " + types
                    + " put convolution state in layers " + conv + " and KV in layers " + attention + ", but the "
                    + "graph has convolution state (past_conv.N) in layers " + graphConv + " and KV in layers "
                    + graphKv + ".", null);
        }
    }

    /**
     * The fused convention's own inputs: both of seqlens_k (int32 [batch]) and total_sequence_length (int32 scalar),
     * Optimum-named KV (GroupQueryAttention keeps K and V apart), and no attention_mask (the lengths replace it).
     */
    private static void checkFused(Path file, Map<String, NodeInfo> inputs, KvNaming naming, String found) {
        String missing = !inputs.containsKey(SEQLENS_K) ? SEQLENS_K
                : !inputs.containsKey(TOTAL_SEQUENCE_LENGTH) ? TOTAL_SEQUENCE_LENGTH : null;
        if (missing != null) {
            throw ArborException.badModel("ONNX model '" + file + "' looks fused (it takes "
                    + (missing.equals(SEQLENS_K) ? TOTAL_SEQUENCE_LENGTH : SEQLENS_K) + ") but has no '" + missing
                    + "' input; a fused graph needs both. Inputs found: " + found + ". Expected: " + EXPECTED + ".",
                    null);
        }
        if (inputs.containsKey(ATTENTION_MASK)) {
            throw ArborException.badModel("ONNX model '" + file + "' takes both attention_mask and seqlens_k; the "
                    + "onnxruntime backend feeds a fused graph row lengths only (seqlens_k, total_sequence_length), "
                    + "so export it without attention_mask. Inputs found: " + found + ".", null);
        }
        if (naming != KvNaming.OPTIMUM) {
            throw ArborException.badModel("ONNX model '" + file + "' is fused but names its KV inputs past_N "
                    + "(K and V stacked); a fused graph needs past_key_values.N.key and past_key_values.N.value, "
                    + "which GroupQueryAttention updates in place. Inputs found: " + found + ".", null);
        }
        TensorInfo seqlens = tensorInfo(file, inputs, SEQLENS_K);
        if (seqlens.type != OnnxJavaType.INT32) {
            throw ArborException.badModel("ONNX model '" + file + "': input '" + SEQLENS_K + "' has type "
                    + seqlens.type + "; expected int32 [batch] (GroupQueryAttention's convention).", null);
        }
        checkRank(file, "input", SEQLENS_K, seqlens, 1);
        TensorInfo total = tensorInfo(file, inputs, TOTAL_SEQUENCE_LENGTH);
        if (total.type != OnnxJavaType.INT32 || total.getShape().length > 1
                || (total.getShape().length == 1 && total.getShape()[0] > 1)) {
            throw ArborException.badModel("ONNX model '" + file + "': input '" + TOTAL_SEQUENCE_LENGTH + "' is "
                    + total.type + " " + Arrays.toString(total.getShape()) + "; expected an int32 scalar.", null);
        }
    }

    private static int resolveDim(Path file, String tensor, long[] shape, int axis, int hint, String what) {
        long d = shape[axis];
        if (d > 0) {
            if (hint > 0 && hint != d) {
                throw ArborException.badModel("ONNX model '" + file + "': " + what + " is " + hint + " in the "
                        + "model's config but KV input '" + tensor + "' declares " + d + " (shape "
                        + Arrays.toString(shape) + ").", null);
            }
            return (int) d;
        }
        if (hint > 0) {
            return hint;
        }
        throw ArborException.badModel("ONNX model '" + file + "': KV input '" + tensor + "' leaves axis " + axis
                + " (" + what + ") symbolic (shape " + Arrays.toString(shape) + ") and no genai_config.json or "
                + "arbor.* metadata gives it.", null);
    }

    private static TensorInfo tensorInfo(Path file, Map<String, NodeInfo> infos, String name) {
        if (infos.get(name).getInfo() instanceof TensorInfo t) {
            return t;
        }
        throw ArborException.badModel("ONNX model '" + file + "': '" + name + "' is not a tensor ("
                + infos.get(name).getInfo() + ").", null);
    }

    private static OnnxJavaType integerType(Path file, Map<String, NodeInfo> inputs, String name, int rank) {
        TensorInfo t = tensorInfo(file, inputs, name);
        if (t.type != OnnxJavaType.INT32 && t.type != OnnxJavaType.INT64) {
            throw ArborException.badModel("ONNX model '" + file + "': input '" + name + "' has type " + t.type
                    + "; expected int32 or int64.", null);
        }
        checkRank(file, "input", name, t, rank);
        return t.type;
    }

    private static TensorInfo requireFloat(Path file, String kind, String name, TensorInfo t, int rank) {
        if (t.type != OnnxJavaType.FLOAT) {
            throw ArborException.badModel("ONNX model '" + file + "': " + kind + " '" + name + "' has type " + t.type
                    + "; the onnxruntime backend supports float32 there (export without fp16 KV/logits).", null);
        }
        checkRank(file, kind, name, t, rank);
        return t;
    }

    private static void checkRank(Path file, String kind, String name, TensorInfo t, int rank) {
        if (t.getShape().length != rank) {
            throw ArborException.badModel("ONNX model '" + file + "': " + kind + " '" + name + "' has shape "
                    + Arrays.toString(t.getShape()) + " (rank " + t.getShape().length + "); expected rank " + rank
                    + ".", null);
        }
    }
}
