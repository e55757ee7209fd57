package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@code /v1/completions} or {@code /v1/chat/completions} body, type-checked field by field (a wrong field is a
 * 400 naming it) and mapped to Arbor's {@link CompletionRequest}. Unknown fields are ignored, as OpenAI clients send
 * fields a server may not support.
 *
 * @param chat          true for chat completions
 * @param model         the pipeline
 * @param prompt        prompt text (chat: the rendered messages); null when {@code inputIds} is given
 * @param inputIds      a prompt given as token ids (completions only)
 * @param maxTokens     requested {@code max_tokens}, or null for the pipeline's default
 * @param n             how many completions
 * @param stream        answer with server-sent events
 * @param includeUsage  {@code stream_options.include_usage}
 * @param logprobs      return chosen-token log-probabilities
 * @param topLogprobs   how many alternatives per token were asked for (only the chosen token is known)
 * @param stop          stop strings
 * @param options       per-request options for the pipeline (temperature, top_p, seed, arbor.options, ...)
 * @param generator     {@code arbor.generator}, or null
 * @param processors    {@code arbor.processors}, or null
 * @param format        {@code response_format} or {@code arbor.regex} / {@code arbor.grammar} (structured outputs)
 */
record OpenAiRequest(boolean chat, String model, String prompt, int[] inputIds, Integer maxTokens, int n,
                     boolean stream, boolean includeUsage, boolean logprobs, int topLogprobs, List<String> stop,
                     Map<String, Object> options, PartRef generator, List<PartRef> processors,
                     ResponseFormat format) {

    private static final ObjectMapper MAPPER = new ObjectMapper();
    /** More than this many completions per request is a client bug or abuse, not a use case. */
    static final int MAX_N = 16;

    /** The request for completion {@code index} of {@code n}: with a seed, completion i uses seed + i. */
    CompletionRequest toCompletionRequest(int index, Map<String, Object> extraOptions) {
        Map<String, Object> all = new LinkedHashMap<>(options);
        all.putAll(extraOptions);
        if (maxTokens != null) {
            all.put("max_tokens", maxTokens);
        }
        Object seed = options.get("seed");
        if (seed instanceof Long s && index > 0) {
            all.put("seed", s + index);
        }
        return new CompletionRequest(model, prompt, inputIds, stop, generator, processors, Options.of(all));
    }

    static OpenAiRequest parse(JsonNode body, boolean chat) {
        if (body == null || !body.isObject()) {
            throw ApiError.invalid(null, "the request body must be a JSON object");
        }
        String model = requiredString(body, "model");
        String prompt = null;
        int[] inputIds = null;
        if (chat) {
            prompt = ChatPrompt.render(body.get("messages"));
        } else {
            PromptField given = PromptField.parse(body.get("prompt"));
            prompt = given.text();
            inputIds = given.ids();
        }
        Integer maxTokens = optionalInt(body, chat && body.hasNonNull("max_completion_tokens")
                ? "max_completion_tokens" : "max_tokens", 0, Integer.MAX_VALUE);
        Integer requestedN = optionalInt(body, "n", 1, MAX_N);
        int n = requestedN == null ? 1 : requestedN;
        boolean stream = optionalBool(body, "stream", false);
        boolean includeUsage = false;
        JsonNode streamOptions = body.get("stream_options");
        if (streamOptions != null && !streamOptions.isNull()) {
            if (!streamOptions.isObject()) {
                throw ApiError.invalid("stream_options", "'stream_options' must be an object, got "
                        + kind(streamOptions));
            }
            includeUsage = optionalBool(streamOptions, "include_usage", false);
        }
        boolean logprobs;
        int topLogprobs;
        if (chat) {
            logprobs = optionalBool(body, "logprobs", false);
            Integer top = optionalInt(body, "top_logprobs", 0, 20);
            topLogprobs = top == null ? 0 : top;
            if (top != null && top > 0 && !logprobs) {
                throw ApiError.invalid("top_logprobs", "'top_logprobs' needs 'logprobs': true");
            }
        } else {
            Integer lp = optionalInt(body, "logprobs", 0, 5);
            logprobs = lp != null;
            topLogprobs = lp == null ? 0 : lp;
        }
        List<String> stop = stop(body.get("stop"));

        Map<String, Object> options = new LinkedHashMap<>();
        ArborExtension arbor = ArborExtension.parse(body.get("arbor"));
        options.putAll(arbor.options());
        putNumber(options, body, "temperature", 0.0, 2.0);
        putNumber(options, body, "top_p", 0.0, 1.0);
        putNumber(options, body, "presence_penalty", -2.0, 2.0);
        putNumber(options, body, "frequency_penalty", -2.0, 2.0);
        putNumber(options, body, "min_p", 0.0, 1.0);
        Integer topK = optionalInt(body, "top_k", 0, Integer.MAX_VALUE);
        if (topK != null) {
            options.put("top_k", topK);
        }
        JsonNode seed = body.get("seed");
        if (seed != null && !seed.isNull()) {
            if (!seed.isIntegralNumber() || !seed.canConvertToLong()) {
                throw ApiError.invalid("seed", "'seed' must be an integer, got " + kind(seed));
            }
            options.put("seed", seed.longValue());
        }
        return new OpenAiRequest(chat, model, inputIds == null ? prompt : null, inputIds, maxTokens, n, stream,
                includeUsage, logprobs, topLogprobs, stop, options, arbor.generator(), arbor.processors(),
                ResponseFormat.parse(body, body.get("arbor")));
    }

    /** This request with {@code chain} as its processors (a structured-output constraint prepended). */
    OpenAiRequest withProcessors(List<PartRef> chain) {
        return new OpenAiRequest(chat, model, prompt, inputIds, maxTokens, n, stream, includeUsage, logprobs,
                topLogprobs, stop, options, generator, chain, format);
    }

    /** The {@code "arbor"} extension: a strategy and processor chain for this request, and extra options. */
    record ArborExtension(PartRef generator, List<PartRef> processors, Map<String, Object> options) {
        static ArborExtension parse(JsonNode node) {
            if (node == null || node.isNull()) {
                return new ArborExtension(null, null, Map.of());
            }
            if (!node.isObject()) {
                throw ApiError.invalid("arbor", "'arbor' must be an object with 'generator', 'processors' and/or"
                        + " 'options', got " + kind(node));
            }
            PartRef generator = node.hasNonNull("generator") ? part(node.get("generator"), "arbor.generator") : null;
            List<PartRef> processors = null;
            JsonNode list = node.get("processors");
            if (list != null && !list.isNull()) {
                if (!list.isArray()) {
                    throw ApiError.invalid("arbor.processors", "'arbor.processors' must be a list of processor"
                            + " names or {\"name\", \"options\"} objects, got " + kind(list));
                }
                processors = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) {
                    processors.add(part(list.get(i), "arbor.processors[" + i + "]"));
                }
            }
            Map<String, Object> options = objectOptions(node.get("options"), "arbor.options");
            JsonNode canvas = node.get("stream_canvas");
            if (canvas != null && !canvas.isNull()) {
                // diffusion generators: stream each step's canvas as an "arbor_canvas" chunk (see OpenAiHandler)
                if (!canvas.isBoolean()) {
                    throw ApiError.invalid("arbor.stream_canvas", "'arbor.stream_canvas' must be true or false, got "
                            + kind(canvas));
                }
                options = new LinkedHashMap<>(options);
                options.put("stream_canvas", canvas.asBoolean());
            }
            return new ArborExtension(generator, processors, options);
        }

        private static PartRef part(JsonNode node, String param) {
            if (node.isTextual() && !node.asText().isBlank()) {
                return PartRef.of(node.asText());
            }
            if (node.isObject() && node.hasNonNull("name") && node.get("name").isTextual()
                    && !node.get("name").asText().isBlank()) {
                return new PartRef(node.get("name").asText(), Options.of(objectOptions(node.get("options"),
                        param + ".options")));
            }
            throw ApiError.invalid(param, "'" + param + "' must be a part name or an object with a \"name\","
                    + " got " + kind(node));
        }

        private static Map<String, Object> objectOptions(JsonNode node, String param) {
            if (node == null || node.isNull()) {
                return Map.of();
            }
            if (!node.isObject()) {
                throw ApiError.invalid(param, "'" + param + "' must be an object, got " + kind(node));
            }
            return MAPPER.convertValue(node, MAPPER.getTypeFactory().constructMapType(LinkedHashMap.class,
                    String.class, Object.class));
        }
    }

    private static List<String> stop(JsonNode node) {
        if (node == null || node.isNull()) {
            return List.of();
        }
        if (node.isTextual()) {
            return node.asText().isEmpty() ? List.of() : List.of(node.asText());
        }
        if (node.isArray()) {
            List<String> out = new ArrayList<>();
            for (JsonNode s : node) {
                if (!s.isTextual()) {
                    throw ApiError.invalid("stop", "'stop' must be a string or a list of strings, got a list"
                            + " holding " + kind(s));
                }
                if (!s.asText().isEmpty()) {
                    out.add(s.asText());
                }
            }
            return out;
        }
        throw ApiError.invalid("stop", "'stop' must be a string or a list of strings, got " + kind(node));
    }

    static String requiredString(JsonNode body, String field) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) {
            throw ApiError.invalid(field, "'" + field + "' is required");
        }
        if (!node.isTextual() || node.asText().isBlank()) {
            throw ApiError.invalid(field, "'" + field + "' must be a non-empty string, got " + kind(node));
        }
        return node.asText();
    }

    private static Integer optionalInt(JsonNode body, String field, int min, int max) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isIntegralNumber() || !node.canConvertToInt()) {
            throw ApiError.invalid(field, "'" + field + "' must be an integer, got " + kind(node));
        }
        int v = node.intValue();
        if (v < min || v > max) {
            throw ApiError.invalid(field, "'" + field + "' must be between " + min + " and " + max + ", got " + v);
        }
        return v;
    }

    private static boolean optionalBool(JsonNode body, String field, boolean fallback) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) {
            return fallback;
        }
        if (!node.isBoolean()) {
            throw ApiError.invalid(field, "'" + field + "' must be true or false, got " + kind(node));
        }
        return node.booleanValue();
    }

    private static void putNumber(Map<String, Object> options, JsonNode body, String field, double min, double max) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) {
            return;
        }
        if (!node.isNumber()) {
            throw ApiError.invalid(field, "'" + field + "' must be a number, got " + kind(node));
        }
        double v = node.doubleValue();
        if (!(v >= min && v <= max)) {
            throw ApiError.invalid(field, "'" + field + "' must be between " + min + " and " + max + ", got " + v);
        }
        options.put(field, v);
    }

    /** A short description of a JSON value for error messages: its type and (shortened) text. */
    static String kind(JsonNode node) {
        String text = node.toString();
        if (text.length() > 40) {
            text = text.substring(0, 37) + "...";
        }
        String type = node.isTextual() ? "a string" : node.isNumber() ? "a number" : node.isBoolean() ? "a boolean"
                : node.isArray() ? "a list" : node.isObject() ? "an object" : "null";
        return type + " (" + text + ")";
    }
}
