package dev.arbor.platform.oip;

import java.util.List;
import java.util.Map;

/** The answer to an {@link InferRequest}: the model's name and version, the request's id, parameters and outputs. */
public record InferResponse(String modelName, String modelVersion, String id, Map<String, Object> parameters,
                            List<Tensor> outputs) {
    public InferResponse {
        parameters = parameters == null ? Map.of() : Map.copyOf(parameters);
        outputs = List.copyOf(outputs);
    }
}
