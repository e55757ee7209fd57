package dev.arbor.platform.oip;

import java.util.List;

/**
 * A tensor a model takes or gives, as metadata describes it: its name, its protocol datatype ({@code BOOL},
 * {@code INT32}, {@code INT64}, {@code FP32}, {@code BYTES}, ...) and its shape, {@code -1} for a variable dimension.
 */
public record TensorSpec(String name, String datatype, List<Long> shape) {
    public TensorSpec {
        shape = List.copyOf(shape);
    }
}
