package dev.arbor.platform.oip.server;

import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferenceException;
import dev.arbor.platform.oip.InferenceModel;
import dev.arbor.platform.oip.Tensor;
import dev.arbor.platform.oip.TensorSpec;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The checks every request passes before a model sees it, whichever front end decoded it: shapes that are
 * non-negative and hold at most a bounded number of elements (checked before anything is allocated for them),
 * inputs the model declares under their declared datatype and rank, no input twice, and outputs the model gives.
 * Each failure is an {@link InferenceException.Status#INVALID} naming the field ({@code inputs[1].shape}, ...).
 */
public final class TensorChecks {
    /** The datatypes the protocol defines. */
    public static final Set<String> DATATYPES = Set.of("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8",
            "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES");

    private TensorChecks() {
    }

    /**
     * The number of elements {@code shape} holds; INVALID naming {@code field} when a dimension is negative or the
     * product exceeds {@code maxElements} (a huge declared shape is refused before any buffer is sized by it).
     */
    public static long elementCount(String field, List<Long> shape, long maxElements) throws InferenceException {
        long n = 1;
        for (int i = 0; i < shape.size(); i++) {
            long d = shape.get(i);
            if (d < 0) {
                throw invalid(field + "[" + i + "]", "a dimension must be 0 or more, got " + d);
            }
            if (d != 0 && n > maxElements / d) {
                throw invalid(field, "shape " + shape + " holds more than this server's limit of " + maxElements
                        + " elements per tensor");
            }
            n *= d;
        }
        return n;
    }

    /** INVALID naming {@code field} unless {@code datatype} is one of the protocol's {@link #DATATYPES}. */
    public static void datatype(String field, String datatype) throws InferenceException {
        if (datatype == null || !DATATYPES.contains(datatype)) {
            throw invalid(field, "unknown datatype '" + datatype + "'; the protocol's are " + String.join(", ",
                    DATATYPES.stream().sorted().toList()));
        }
    }

    /**
     * Checks {@code request}'s inputs and requested outputs against what {@code model} declares: each input named
     * once and declared, of its declared datatype and rank, each fixed dimension as declared, each requested output
     * declared.
     */
    public static void against(InferenceModel model, InferRequest request) throws InferenceException {
        Set<String> seen = new HashSet<>();
        List<TensorSpec> specs = model.inputs();
        for (int i = 0; i < request.inputs().size(); i++) {
            Tensor t = request.inputs().get(i);
            String field = "inputs[" + i + "]";
            if (!seen.add(t.name())) {
                throw invalid(field + ".name", "input '" + t.name() + "' is given twice");
            }
            TensorSpec spec = specs.stream().filter(s -> s.name().equals(t.name())).findFirst().orElse(null);
            if (spec == null) {
                throw invalid(field + ".name", "model '" + model.name() + "' has no input '" + t.name()
                        + "'; its inputs are " + names(specs));
            }
            if (!spec.datatype().equals(t.datatype())) {
                throw invalid(field + ".datatype", "input '" + t.name() + "' of model '" + model.name()
                        + "' is " + spec.datatype() + ", got " + t.datatype());
            }
            if (spec.shape().size() != t.shape().size()) {
                throw invalid(field + ".shape", "input '" + t.name() + "' of model '" + model.name() + "' has "
                        + spec.shape().size() + " dimensions " + spec.shape() + " (-1: any size), got "
                        + t.shape());
            }
            for (int d = 0; d < spec.shape().size(); d++) {
                long want = spec.shape().get(d);
                if (want >= 0 && want != t.shape().get(d)) {
                    throw invalid(field + ".shape", "input '" + t.name() + "' of model '" + model.name()
                            + "' has shape " + spec.shape() + " (-1: any size), got " + t.shape());
                }
            }
        }
        for (int i = 0; i < request.outputs().size(); i++) {
            String name = request.outputs().get(i);
            if (model.outputs().stream().noneMatch(s -> s.name().equals(name))) {
                throw invalid("outputs[" + i + "].name", "model '" + model.name() + "' has no output '" + name
                        + "'; its outputs are " + names(model.outputs()));
            }
        }
    }

    private static String names(List<TensorSpec> specs) {
        return String.join(", ", specs.stream().map(TensorSpec::name).toList());
    }

    /** A client error naming {@code field}: "field: message". */
    public static InferenceException invalid(String field, String message) {
        return new InferenceException(InferenceException.Status.INVALID, field + ": " + message);
    }
}
