package dev.arbor.platform.oip;

import java.util.List;
import java.util.Map;

/**
 * One inference request: its client-chosen id (echoed back; may be empty), request parameters (the protocol's
 * {@code parameters}: strings, numbers and booleans), the input tensors, the outputs asked for (empty: all), and the
 * instant (epoch milliseconds) past which the caller has given up.
 */
public record InferRequest(String id, Map<String, Object> parameters, List<Tensor> inputs, List<String> outputs,
                           long deadlineMillis) {
    public InferRequest {
        id = id == null ? "" : id;
        parameters = parameters == null ? Map.of() : Map.copyOf(parameters);
        inputs = List.copyOf(inputs);
        outputs = outputs == null ? List.of() : List.copyOf(outputs);
    }

    /** The input of that name, or null. */
    public Tensor input(String name) {
        return inputs.stream().filter(t -> t.name().equals(name)).findFirst().orElse(null);
    }
}
