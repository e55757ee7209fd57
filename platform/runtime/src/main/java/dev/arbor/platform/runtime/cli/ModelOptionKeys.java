package dev.arbor.platform.runtime.cli;

import dev.arbor.api.ArborException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Splits {@code arbor generate --option key=value} pairs into the ones that configure the model of a
 * {@code --model} run (its graph, precision, device, batching: options the backend reads when it opens the model)
 * and the ones that configure the request. A named pipeline fixes its model's options in its file, so there a model
 * key is refused with a message saying where it belongs instead of being silently ignored.
 */
final class ModelOptionKeys {
    /** Model options of the ONNX Runtime and DJL backends (see their providers' documentation). */
    static final Set<String> KEYS = Set.of("precision", "graph", "device", "device_id", "allow_cpu_fallback",
            "intra_op_threads", "allow_spinning", "batching", "max_batch_rows", "prefill_chunk", "arena_rows",
            "batch_gather_us", "keep_layers");

    /** The two halves of a set of --option pairs. */
    record Split(Map<String, Object> model, Map<String, Object> request) {
    }

    private ModelOptionKeys() {
    }

    /**
     * The model and request halves of {@code extra}; {@code modelRun} is true for {@code --model}.
     *
     * @throws ArborException INVALID_INPUT when a model key is given for a named pipeline
     */
    static Split split(Map<String, String> extra, boolean modelRun, String pipeline) {
        Map<String, Object> model = new LinkedHashMap<>();
        Map<String, Object> request = new LinkedHashMap<>();
        Set<String> misplaced = new TreeSet<>();
        extra.forEach((key, value) -> {
            if (!KEYS.contains(key)) {
                request.put(key, value);
            } else if (modelRun) {
                model.put(key, value);
            } else {
                misplaced.add(key);
            }
        });
        if (!misplaced.isEmpty()) {
            throw ArborException.invalid("--option " + String.join(", ", misplaced) + " configures a model, not a "
                    + "request: pipeline '" + pipeline + "' fixes its model's options in its file (the \"options\" "
                    + "of \"model\" in etc/pipelines/" + pipeline + ".json); set it there, or run a model file "
                    + "with --model and --option");
        }
        return new Split(model, request);
    }
}
