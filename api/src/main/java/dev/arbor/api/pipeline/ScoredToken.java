package dev.arbor.api.pipeline;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * A token with its exact bytes and its log-probability under the processed distribution, as log-probability
 * listings show it (OpenAI's {@code token}, {@code bytes}, {@code logprob}). Since 1.4.
 *
 * @param id             the token id
 * @param bytes          what the token appends to decoded text ({@code Tokenizer.tokenBytes})
 * @param logProbability {@code log_softmax} of the processed logits at {@code id}; {@code -inf} for a token the
 *                       processors removed
 */
public record ScoredToken(int id, byte[] bytes, double logProbability) {

    /**
     * The bytes as text: their UTF-8 when they are valid UTF-8, else {@code bytes:} followed by {@code \xNN} for
     * each byte (OpenAI's form for a token that holds part of a character).
     */
    public String text() {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            StringBuilder sb = new StringBuilder("bytes:");
            for (byte b : bytes) {
                sb.append(String.format("\\x%02x", b & 0xff));
            }
            return sb.toString();
        }
    }
}
