package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineStatus;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Structured outputs of a completion request: OpenAI's {@code response_format} ({@code text}, {@code json_object},
 * {@code json_schema}) or the {@code arbor} extension's {@code regex} / {@code grammar} (GBNF, start rule
 * {@code root}), type-checked field by field. It becomes the processor {@value #PROCESSOR} placed FIRST in the
 * request's chain, so that top-k / top-p / min-p choose among the tokens the constraint allows; the rest of the chain
 * is the request's own or the pipeline's, whose fixed parts (watermarks) the platform keeps with the operator's
 * options.
 *
 * @param option the processor option ({@code json_schema}, {@code json_object}, {@code regex}, {@code grammar}),
 *               null for no constraint
 * @param value  its value: the schema as JSON text, {@code true}, or the pattern or grammar text
 * @param param  the request field it came from, for error messages
 */
record ResponseFormat(String option, Object value, String param) {
    /** The processor part that enforces the constraint. */
    static final String PROCESSOR = "structured-output";
    static final ResponseFormat NONE = new ResponseFormat(null, null, null);
    /** OpenAI's rule for {@code json_schema.name}. */
    private static final Pattern NAME = Pattern.compile("[a-zA-Z0-9_-]{1,64}");

    boolean constrains() {
        return option != null;
    }

    /** Reads {@code response_format} and the extension's {@code regex} / {@code grammar}; at most one constraint. */
    static ResponseFormat parse(JsonNode body, JsonNode arbor) {
        ResponseFormat format = responseFormat(body.get("response_format"));
        ResponseFormat extension = NONE;
        if (arbor != null && arbor.isObject()) {
            for (String key : List.of("regex", "grammar")) {
                JsonNode node = arbor.get(key);
                if (node == null || node.isNull()) {
                    continue;
                }
                String param = "arbor." + key;
                if (!node.isTextual() || node.asText().isEmpty()) {
                    throw ApiError.invalid(param, "'" + param + "' must be a non-empty string ("
                            + (key.equals("regex") ? "a regular expression the whole output must match"
                            : "a GBNF grammar whose start rule is 'root'") + "), got " + OpenAiRequest.kind(node));
                }
                if (extension.constrains()) {
                    throw ApiError.invalid(param, "give at most one of 'arbor.regex' and 'arbor.grammar'");
                }
                extension = new ResponseFormat(key, node.asText(), param);
            }
        }
        if (format.constrains() && extension.constrains()) {
            throw ApiError.invalid(extension.param, "'" + extension.param + "' and a 'response_format' of type '"
                    + format.option + "' both constrain the output; give one of them");
        }
        return format.constrains() ? format : extension;
    }

    private static ResponseFormat responseFormat(JsonNode node) {
        if (node == null || node.isNull()) {
            return NONE;
        }
        if (!node.isObject()) {
            throw ApiError.invalid("response_format", "'response_format' must be an object such as {\"type\":"
                    + " \"json_object\"}, got " + OpenAiRequest.kind(node));
        }
        JsonNode type = node.get("type");
        if (type == null || !type.isTextual()) {
            throw ApiError.invalid("response_format.type", "'response_format.type' must be one of \"text\","
                    + " \"json_object\" or \"json_schema\", got " + (type == null ? "nothing" : OpenAiRequest.kind(type)));
        }
        return switch (type.asText()) {
            case "text" -> NONE;
            case "json_object" -> new ResponseFormat("json_object", Boolean.TRUE, "response_format");
            case "json_schema" -> jsonSchema(node.get("json_schema"));
            default -> throw ApiError.invalid("response_format.type", "'response_format.type' must be one of"
                    + " \"text\", \"json_object\" or \"json_schema\", got " + OpenAiRequest.kind(type));
        };
    }

    private static ResponseFormat jsonSchema(JsonNode spec) {
        String param = "response_format.json_schema";
        if (spec == null || !spec.isObject()) {
            throw ApiError.invalid(param, "a 'response_format' of type \"json_schema\" needs '" + param + "': an"
                    + " object {\"name\", \"schema\", \"strict\"}, got " + (spec == null ? "nothing"
                    : OpenAiRequest.kind(spec)));
        }
        JsonNode name = spec.get("name");
        if (name == null || !name.isTextual() || !NAME.matcher(name.asText()).matches()) {
            throw ApiError.invalid(param + ".name", "'" + param + ".name' must be 1 to 64 letters, digits,"
                    + " underscores or dashes, got " + (name == null ? "nothing" : OpenAiRequest.kind(name)));
        }
        for (String text : List.of("description")) {
            JsonNode v = spec.get(text);
            if (v != null && !v.isNull() && !v.isTextual()) {
                throw ApiError.invalid(param + "." + text, "'" + param + "." + text + "' must be a string, got "
                        + OpenAiRequest.kind(v));
            }
        }
        JsonNode strict = spec.get("strict");
        if (strict != null && !strict.isNull() && !strict.isBoolean()) {
            throw ApiError.invalid(param + ".strict", "'" + param + ".strict' must be true or false, got "
                    + OpenAiRequest.kind(strict));
        }
        JsonNode schema = spec.get("schema");
        if (schema == null || !schema.isObject()) {
            throw ApiError.invalid(param + ".schema", "'" + param + ".schema' must be a JSON Schema object (the"
                    + " output is constrained to it, whether 'strict' is true or not), got " + (schema == null
                    ? "nothing" : OpenAiRequest.kind(schema)));
        }
        return new ResponseFormat("json_schema", schema.toString(), param + ".schema");
    }

    /**
     * {@code request} as it runs: unchanged without a constraint, else with the constraint's chain (see
     * {@link #chain}) after checking the constraint's size against {@code maxBytes}.
     */
    static OpenAiRequest apply(OpenAiRequest request, PipelineStatus status, int maxTokens, long maxBytes) {
        ResponseFormat format = request.format();
        if (format == null || !format.constrains()) {
            return request;
        }
        format.checkSize(maxBytes);
        return request.withProcessors(format.chain(request.model(), status.definition(), request.processors(),
                maxTokens));
    }

    /** Refuses a constraint longer than {@code maxBytes} in UTF-8 (compiling it is work the server bounds). */
    void checkSize(long maxBytes) {
        if (value instanceof String text) {
            long bytes = text.getBytes(StandardCharsets.UTF_8).length;
            if (bytes > maxBytes) {
                throw ApiError.invalid(param, "'" + param + "' is " + bytes + " bytes, more than this server's"
                        + " limit of " + maxBytes + " (max_constraint_bytes)");
            }
        }
    }

    /**
     * The request's processor chain: {@value #PROCESSOR} first, with this constraint and the budget, then the
     * request's own chain or, without one, the pipeline's chain by name (the platform gives each its pipeline
     * options, and keeps fixed parts with the operator's). Refused when the pipeline does not let a request use
     * {@value #PROCESSOR} or already constrains its output.
     */
    List<PartRef> chain(String pipeline, PipelineDefinition definition, List<PartRef> requested, int maxTokens) {
        if (definition != null) {
            boolean own = definition.processors().stream().anyMatch(p -> p.name().equals(PROCESSOR));
            if (own) {
                throw ApiError.invalid(param, "pipeline '" + pipeline + "' already constrains its output with"
                        + " logits processor '" + PROCESSOR + "' (the operator's); a request cannot add another"
                        + " constraint ('" + param + "')");
            }
            if (!definition.overrides().processors().contains(PROCESSOR)) {
                throw ApiError.invalid(param, "pipeline '" + pipeline + "' does not offer structured outputs"
                        + " ('" + param + "'): its operator can allow them by adding '" + PROCESSOR + "' to the"
                        + " pipeline's overrides.processors");
            }
        }
        if (requested != null && requested.stream().anyMatch(p -> p.name().equals(PROCESSOR))) {
            throw ApiError.invalid(param, "'arbor.processors' names '" + PROCESSOR + "' and '" + param + "' adds it"
                    + " too; give the constraint once");
        }
        Map<String, Object> options = new LinkedHashMap<>();
        options.put(option, value);
        options.put("max_tokens", maxTokens);
        List<PartRef> chain = new ArrayList<>();
        chain.add(new PartRef(PROCESSOR, Options.of(options)));
        if (requested != null) {
            chain.addAll(requested);
        } else if (definition != null) {
            definition.processors().forEach(p -> chain.add(PartRef.of(p.name())));
        }
        return chain;
    }
}
