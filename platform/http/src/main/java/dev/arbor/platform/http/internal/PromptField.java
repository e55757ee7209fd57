package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The {@code prompt} of a completions request in each form OpenAI accepts: a string, a list of one string, a list of
 * token ids, or a list of one list of token ids. Several prompts are refused (one per request); anything else is a
 * 400 that names the element at fault and why.
 *
 * @param text the prompt text, or null when the prompt is token ids
 * @param ids  the token ids, or null when the prompt is text
 */
record PromptField(String text, int[] ids) {
    private static final String FIELD = "prompt";

    static PromptField parse(JsonNode p) {
        if (p == null || p.isNull()) {
            return new PromptField("", null);
        }
        if (p.isTextual()) {
            return new PromptField(p.asText(), null);
        }
        if (!p.isArray()) {
            throw invalid("'prompt' must be a string or a list of token ids, got " + OpenAiRequest.kind(p));
        }
        if (p.isEmpty()) {
            throw invalid("'prompt' is an empty list; give a string or a list of token ids");
        }
        JsonNode first = p.get(0);
        if (first.isTextual()) {
            for (int i = 1; i < p.size(); i++) {
                if (!p.get(i).isTextual()) {
                    throw invalid("'prompt' mixes strings with " + OpenAiRequest.kind(p.get(i)) + " at index " + i
                            + "; give one string or a list of token ids");
                }
            }
            if (p.size() > 1) {
                throw several(p.size());
            }
            return new PromptField(first.asText(), null);
        }
        if (first.isNumber()) {
            return new PromptField(null, ids(p, "'prompt'"));
        }
        if (first.isArray()) {
            for (int i = 1; i < p.size(); i++) {
                if (!p.get(i).isArray()) {
                    throw invalid("'prompt' mixes lists of token ids with " + OpenAiRequest.kind(p.get(i))
                            + " at index " + i);
                }
            }
            if (p.size() > 1) {
                throw several(p.size());
            }
            if (first.isEmpty()) {
                throw invalid("'prompt[0]' is an empty list of token ids; give at least one id");
            }
            return new PromptField(null, ids(first, "'prompt[0]'"));
        }
        throw invalid("'prompt' must be a string or a list of token ids, got a list holding "
                + OpenAiRequest.kind(first) + " at index 0");
    }

    /** Token ids, each checked: an integer that can be an id (the runtime then checks it against the model). */
    private static int[] ids(JsonNode list, String name) {
        int[] ids = new int[list.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode id = list.get(i);
            if (!id.isNumber()) {
                throw invalid(name + " mixes token ids with " + OpenAiRequest.kind(id) + " at index " + i
                        + "; a list of token ids holds integers only");
            }
            if (!id.isIntegralNumber()) {
                throw invalid(name + " token id " + id.asText() + " at index " + i + " is not an integer");
            }
            if (!id.canConvertToInt() || id.intValue() < 0) {
                throw invalid(name + " token id " + id.asText() + " at index " + i + " is outside the vocabulary:"
                        + " token ids run from 0 to the model's vocabulary size - 1");
            }
            ids[i] = id.intValue();
        }
        return ids;
    }

    private static ApiError several(int count) {
        return invalid("'prompt' holds " + count + " prompts; this server takes one prompt per request (use 'n'"
                + " for several completions of it)");
    }

    private static ApiError invalid(String message) {
        return ApiError.invalid(FIELD, message);
    }
}
