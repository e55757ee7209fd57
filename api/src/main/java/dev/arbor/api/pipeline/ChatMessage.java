package dev.arbor.api.pipeline;

import java.util.Objects;

/**
 * One turn of a conversation, as a chat template sees it ({@code message['role']}, {@code message['content']}).
 * Since 1.4.
 *
 * @param role    {@code system}, {@code developer}, {@code user}, {@code assistant} or {@code tool}
 * @param content the turn's text (the text parts of a multi-part content joined)
 */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        content = content == null ? "" : content;
    }
}
