package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Renders chat messages as one plain prompt for pipelines without a chat template (see {@link ChatRendering}): the
 * messages' texts joined by a blank line, in order, without role labels (so a single user message is its text exactly, and a
 * base model simply continues the conversation's text). Content may be a string or a list of {@code text} parts.
 */
final class ChatPrompt {
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");
    static final String SEPARATOR = "\n\n";

    private ChatPrompt() {
    }

    static String render(JsonNode messages) {
        if (messages == null || messages.isNull()) {
            throw ApiError.invalid("messages", "'messages' is required");
        }
        if (!messages.isArray() || messages.isEmpty()) {
            throw ApiError.invalid("messages", "'messages' must be a non-empty list of {\"role\", \"content\"}"
                    + " objects, got " + OpenAiRequest.kind(messages));
        }
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String param = "messages[" + i + "]";
            if (!m.isObject()) {
                throw ApiError.invalid(param, "'" + param + "' must be an object, got " + OpenAiRequest.kind(m));
            }
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
                throw ApiError.invalid(param + ".role", "'" + param + ".role' must be one of " + ROLES + ", got "
                        + (role == null ? "nothing" : OpenAiRequest.kind(role)));
            }
            String text = content(m.get("content"), param + ".content");
            if (!text.isEmpty()) {
                texts.add(text);
            }
        }
        return String.join(SEPARATOR, texts);
    }

    /**
     * The conversation for a chat template: each message's role and text (content parts joined), checked as
     * {@link #render} checks them; empty contents are kept (a template may mean something by them).
     */
    static List<dev.arbor.api.pipeline.ChatMessage> messages(JsonNode messages) {
        render(messages); // the same checks and messages for every malformed conversation
        List<dev.arbor.api.pipeline.ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            out.add(new dev.arbor.api.pipeline.ChatMessage(m.get("role").asText(),
                    content(m.get("content"), "messages[" + i + "].content")));
        }
        return out;
    }

    private static String content(JsonNode content, String param) {
        if (content == null || content.isNull()) {
            return "";
        }
        if (content.isTextual()) {
            return content.asText();
        }
        if (content.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < content.size(); i++) {
                JsonNode part = content.get(i);
                if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiError.invalid(param + "[" + i + "]", "'" + param + "[" + i + "]' must be a"
                            + " {\"type\": \"text\", \"text\": ...} part (this server takes text only), got "
                            + OpenAiRequest.kind(part));
                }
                sb.append(part.get("text").asText());
            }
            return sb.toString();
        }
        throw ApiError.invalid(param, "'" + param + "' must be a string or a list of text parts, got "
                + OpenAiRequest.kind(content));
    }
}
