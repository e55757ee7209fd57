package dev.arbor.models.llama2c;

import dev.arbor.api.ArborException;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Which ONNX graph {@link Llama2cOnnxConverter} writes: the plain-op fp32 reference graph (the default, the exactness
 * reference) or a fused graph of ONNX Runtime contrib operators whose projections are fp32 MatMuls or block-quantized
 * {@code MatMulNBits} (8 or 4 bits). Chosen by the options {@code graph} = {@code reference} | {@code fused} and
 * {@code precision} = {@code fp32} | {@code int8} | {@code int4} (see {@link #of(String, String)}).
 */
public enum Llama2cPrecision {
    /** Standard ONNX operators, fp32, {@code attention_bias} contract: the reference every other graph is held to. */
    REFERENCE_FP32("reference", "fp32", 0),
    /** Contrib operators (GroupQueryAttention, RotaryEmbedding, SimplifiedLayerNormalization), fp32 MatMuls. */
    FUSED_FP32("fused", "fp32", 0),
    /** As {@link #FUSED_FP32} with every projection and the classifier in 8-bit block-quantized MatMulNBits. */
    FUSED_INT8("fused", "int8", 8),
    /** As {@link #FUSED_FP32} with every projection and the classifier in 4-bit block-quantized MatMulNBits. */
    FUSED_INT4("fused", "int4", 4);

    private final String graph;
    private final String precision;
    private final int bits;

    Llama2cPrecision(String graph, String precision, int bits) {
        this.graph = graph;
        this.precision = precision;
        this.bits = bits;
    }

    /** {@code reference} or {@code fused}: the value of option {@code graph} and metadata {@code arbor.graph}. */
    public String graph() {
        return graph;
    }

    /** {@code fp32}, {@code int8} or {@code int4}: option {@code precision} and metadata {@code arbor.precision}. */
    public String precision() {
        return precision;
    }

    /** Whether the graph uses the fused contrib-operator signature rather than the reference one. */
    public boolean fused() {
        return this != REFERENCE_FP32;
    }

    /** Bits per quantized weight (8 or 4), 0 for fp32 weights. */
    public int bits() {
        return bits;
    }

    /**
     * The graph the options ask for: {@code precision} {@code fp32} (default) | {@code int8} | {@code int4} and
     * {@code graph} {@code reference} | {@code fused}; a null or blank value means "not given". Without
     * {@code graph}, fp32 gives the reference graph and int8/int4 the fused one (only fused graphs quantize).
     *
     * @throws ArborException (INVALID_INPUT) naming the allowed values, or when {@code graph=reference} is asked
     *                        for with a quantized precision
     */
    public static Llama2cPrecision of(String graph, String precision) {
        String p = normalise(precision);
        String g = normalise(graph);
        if (p != null && Arrays.stream(values()).noneMatch(v -> v.precision.equals(p))) {
            throw ArborException.invalid("option precision='" + precision + "' is not one of fp32, int8, int4");
        }
        if (g != null && !g.equals("reference") && !g.equals("fused")) {
            throw ArborException.invalid("option graph='" + graph + "' is not one of reference, fused");
        }
        String wantPrecision = p == null ? "fp32" : p;
        String wantGraph = g != null ? g : wantPrecision.equals("fp32") ? "reference" : "fused";
        return Arrays.stream(values()).filter(v -> v.graph.equals(wantGraph) && v.precision.equals(wantPrecision))
                .findFirst().orElseThrow(() -> ArborException.invalid("option graph=reference supports only "
                        + "precision=fp32, got precision=" + wantPrecision + "; use graph=fused (or leave graph out) "
                        + "for a quantized graph; allowed pairs: " + Arrays.stream(values())
                        .map(v -> v.graph + "/" + v.precision).collect(Collectors.joining(", "))));
    }

    private static String normalise(String value) {
        return value == null || value.isBlank() ? null : value.trim().toLowerCase(Locale.ROOT);
    }
}
