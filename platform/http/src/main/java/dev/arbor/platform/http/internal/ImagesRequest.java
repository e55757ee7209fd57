package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.Options;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@code POST /v1/images/generations} body (OpenAI's images API), type-checked field by field: a wrong field is a
 * 400 naming it. {@code model} names an image pipeline, {@code prompt} a class (a name such as {@code sneaker} or an
 * index). Only {@code b64_json} PNGs are served. Unknown fields (quality, style, user, ...) are ignored, as OpenAI
 * clients send fields a server may not support.
 *
 * @param model      the pipeline
 * @param prompt     the class, as given (resolved against the pipeline's classes by {@link #classIndex})
 * @param n          how many images
 * @param size       {@code WIDTHxHEIGHT} when given, else null
 * @param stream     answer with server-sent events (partial images, then each completed image)
 * @param partialImages most partial images streamed per image ({@code partial_images}; the first ones the generator
 *                   sends), or -1 for all of them (Arbor's default: OpenAI's is 0)
 * @param options    per-request options (the {@code arbor} extension's options, {@code seed})
 * @param generator  {@code arbor.generator}, or null
 * @param processors {@code arbor.processors}, or null
 */
record ImagesRequest(String model, String prompt, int n, String size, boolean stream, int partialImages,
                     Map<String, Object> options,
                     PartRef generator, List<PartRef> processors) {

    /** Longest prompt accepted: a class name, not a description. */
    static final int MAX_PROMPT_CHARS = 256;

    /** Parses {@code body}; {@code maxImages} bounds {@code n} (the server's {@code max_images}). */
    static ImagesRequest parse(JsonNode body, int maxImages) {
        if (body == null || !body.isObject()) {
            throw ApiError.invalid(null, "the request body must be a JSON object");
        }
        String model = OpenAiRequest.requiredString(body, "model");
        String prompt = prompt(body.get("prompt"));
        int n = 1;
        JsonNode nNode = body.get("n");
        if (nNode != null && !nNode.isNull()) {
            if (!nNode.isIntegralNumber() || !nNode.canConvertToInt()) {
                throw ApiError.invalid("n", "'n' must be an integer, got " + OpenAiRequest.kind(nNode));
            }
            n = nNode.intValue();
            if (n < 1 || n > maxImages) {
                throw ApiError.invalid("n", "'n' must be between 1 and " + maxImages + " (this server's limit,"
                        + " max_images), got " + n);
            }
        }
        String format = optionalString(body, "response_format");
        if (format != null && !format.equals("b64_json")) {
            throw ApiError.invalid("response_format", "'response_format' '" + format + "' is not served: this"
                    + " server answers images only as base64 PNG in the response ('b64_json', the default);"
                    + " it keeps no files to link to with 'url'");
        }
        String output = optionalString(body, "output_format");
        if (output != null && !output.equals("png")) {
            throw ApiError.invalid("output_format", "'output_format' must be 'png' (the only image format served),"
                    + " got '" + output + "'");
        }
        String size = optionalString(body, "size");
        boolean stream = false;
        JsonNode streamNode = body.get("stream");
        if (streamNode != null && !streamNode.isNull()) {
            if (!streamNode.isBoolean()) {
                throw ApiError.invalid("stream", "'stream' must be true or false, got "
                        + OpenAiRequest.kind(streamNode));
            }
            stream = streamNode.booleanValue();
        }
        int partialImages = -1;
        JsonNode partial = body.get("partial_images");
        if (partial != null && !partial.isNull()) {
            if (!partial.isIntegralNumber() || !partial.canConvertToInt() || partial.intValue() < 0) {
                throw ApiError.invalid("partial_images", "'partial_images' must be an integer >= 0 (at most that many"
                        + " partial images per image; leave it out for all the generator sends), got "
                        + OpenAiRequest.kind(partial));
            }
            partialImages = partial.intValue();
        }
        OpenAiRequest.ArborExtension arbor = OpenAiRequest.ArborExtension.parse(body.get("arbor"));
        Map<String, Object> options = new LinkedHashMap<>(arbor.options());
        JsonNode seed = body.get("seed");
        if (seed != null && !seed.isNull()) {
            if (!seed.isIntegralNumber() || !seed.canConvertToLong()) {
                throw ApiError.invalid("seed", "'seed' must be an integer, got " + OpenAiRequest.kind(seed));
            }
            options.put("seed", seed.longValue());
        }
        return new ImagesRequest(model, prompt, n, size, stream, partialImages, options, arbor.generator(),
                arbor.processors());
    }

    /** The class index of the prompt among {@code layout}'s classes; a 400 listing the classes otherwise. */
    int classIndex(ImageLayout layout) {
        try {
            return layout.parseClass(prompt);
        } catch (IllegalArgumentException e) {
            throw ApiError.invalid("prompt", e.getMessage() + " (pipeline '" + model + "' draws images of a class)");
        }
    }

    /** Refuses a {@code size} other than the pipeline's image size (the priors make one size). */
    void checkSize(ImageLayout layout) {
        String expected = layout.width() + "x" + layout.height();
        if (size != null && !size.equals("auto") && !size.equals(expected)) {
            throw ApiError.invalid("size", "'size' must be \"" + expected + "\" (pipeline '" + model + "' makes "
                    + expected + " images) or left out, got \"" + size + "\"");
        }
    }

    /**
     * The request for image {@code index} of class {@code className}: the pipeline's sampling defaults apply, the
     * length is one image's tokens, and with a seed image i uses seed + i (as {@code n} completions do).
     */
    CompletionRequest toCompletionRequest(int index, String className, Map<String, Object> extraOptions) {
        Map<String, Object> all = new LinkedHashMap<>(options);
        all.putAll(extraOptions);
        if (options.get("seed") instanceof Long s && index > 0) {
            all.put("seed", s + index);
        }
        return new CompletionRequest(model, className, null, List.of(), generator, processors, Options.of(all));
    }

    private static String prompt(JsonNode node) {
        if (node == null || node.isNull()) {
            throw ApiError.invalid("prompt", "'prompt' is required: the class to draw, a name (e.g. \"sneaker\") or"
                    + " an index");
        }
        String text;
        if (node.isIntegralNumber() && node.canConvertToInt()) {
            text = Integer.toString(node.intValue());
        } else if (node.isTextual() && !node.asText().isBlank()) {
            text = node.asText();
        } else {
            throw ApiError.invalid("prompt", "'prompt' must be a class name or index, got " + OpenAiRequest.kind(node));
        }
        if (text.length() > MAX_PROMPT_CHARS) {
            throw ApiError.invalid("prompt", "'prompt' has " + text.length() + " characters; an image pipeline's"
                    + " prompt is a class name or index (at most " + MAX_PROMPT_CHARS + ")");
        }
        return text;
    }

    private static String optionalString(JsonNode body, String field) {
        JsonNode node = body.get(field);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isTextual()) {
            throw ApiError.invalid(field, "'" + field + "' must be a string, got " + OpenAiRequest.kind(node));
        }
        return node.asText();
    }
}
