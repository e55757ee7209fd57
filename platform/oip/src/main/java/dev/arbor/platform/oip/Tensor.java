package dev.arbor.platform.oip;

import java.util.List;
import java.util.Map;

/**
 * One tensor of a request or response, row-major. {@code data} holds the elements as the datatype says: {@code
 * long[]} for INT64, {@code int[]} for INT32, {@code float[]} for FP32, {@code double[]} for FP64, {@code boolean[]}
 * for BOOL, {@code byte[][]} for BYTES (one array per element); its length is the product of {@code shape}. These six
 * datatypes are the ones the REST and gRPC front ends carry; a request in another is refused naming it.
 */
public record Tensor(String name, String datatype, List<Long> shape, Object data, Map<String, Object> parameters) {
    public Tensor {
        shape = List.copyOf(shape);
        parameters = parameters == null ? Map.of() : Map.copyOf(parameters);
    }

    /** The number of elements the shape holds. */
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }
}
