package dev.arbor.tests.serving;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Checks one {@code POST /v1/completions} stream (OpenAI's completion-chunk protocol) event by event, then judges
 * the whole when it ends. Rules, each of which a cut-off or corrupted response breaks:
 * <ul>
 *   <li>every event is {@code [DONE]} or a JSON object {@code {"id", "object": "text_completion", "model",
 *       "choices": [{"index": 0, "text": string, "finish_reason": null|"stop"|"length"}]}}; a chunk with
 *       {@code "choices": []} is allowed only when it carries {@code usage} (OpenAI's {@code include_usage} chunk);
 *       {@code id} and {@code model} are the same in every chunk;</li>
 *   <li>exactly one finish reason, on the last content chunk (no text after it);</li>
 *   <li>exactly one {@code [DONE]}, last, followed by the end of the stream;</li>
 *   <li>the text is not empty; the generated token count (the usage chunk's {@code completion_tokens} if any,
 *       otherwise the number of chunks with non-empty text, a lower bound) equals {@code max_tokens} when the finish
 *       reason is {@code length}, and never exceeds it;</li>
 *   <li>when expected texts are given (reference outputs at temperature 0), the text is one of them.</li>
 * </ul>
 */
public final class CompletionStreamValidator {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String model;
    private final int maxTokens;
    private final Set<String> expectedTexts;
    private final StringBuilder text = new StringBuilder();
    private final List<String> malformed = new ArrayList<>();
    private String id;
    private String finishReason;
    private int events;
    private int contentChunks;
    private int nonEmptyChunks;
    private int doneCount;
    private boolean eventAfterDone;
    private boolean textAfterFinish;
    private Integer usageCompletionTokens;

    /**
     * @param model         the model the request named (every chunk must echo it)
     * @param maxTokens     the request's {@code max_tokens}
     * @param expectedTexts the texts a correct response may have (empty: not checked)
     */
    public CompletionStreamValidator(String model, int maxTokens, Set<String> expectedTexts) {
        this.model = model;
        this.maxTokens = maxTokens;
        this.expectedTexts = expectedTexts == null ? Set.of() : expectedTexts;
    }

    /** Takes one event's data; returns the text it adds (empty for none), so callers can time the first token. */
    public String accept(String data) {
        events++;
        if (doneCount > 0) {
            eventAfterDone = true;
        }
        if (data.equals("[DONE]")) {
            doneCount++;
            return "";
        }
        JsonNode chunk;
        try {
            chunk = JSON.readTree(data);
        } catch (JsonProcessingException e) {
            malformed("event " + events + " is not JSON: " + abbreviate(data));
            return "";
        }
        if (chunk == null || !chunk.isObject()) {
            malformed("event " + events + " is not a JSON object: " + abbreviate(data));
            return "";
        }
        if (!"text_completion".equals(chunk.path("object").asText(null))) {
            malformed("event " + events + " has object '" + chunk.path("object").asText(null)
                    + "', expected 'text_completion'");
        }
        String chunkId = chunk.path("id").isTextual() ? chunk.get("id").asText() : null;
        if (chunkId == null || chunkId.isEmpty()) {
            malformed("event " + events + " has no id");
        } else if (id == null) {
            id = chunkId;
        } else if (!id.equals(chunkId)) {
            malformed("event " + events + " has id '" + chunkId + "', earlier chunks had '" + id + "'");
        }
        if (model != null && !model.equals(chunk.path("model").asText(null))) {
            malformed("event " + events + " names model '" + chunk.path("model").asText(null) + "', requested '"
                    + model + "'");
        }
        JsonNode usage = chunk.get("usage");
        if (usage != null && !usage.isNull()) {
            if (!usage.path("completion_tokens").canConvertToInt() || !usage.path("completion_tokens").isIntegralNumber()) {
                malformed("event " + events + " has usage without an integral completion_tokens");
            } else {
                usageCompletionTokens = usage.get("completion_tokens").asInt();
            }
        }
        JsonNode choices = chunk.get("choices");
        if (choices == null || !choices.isArray()) {
            malformed("event " + events + " has no choices array");
            return "";
        }
        if (choices.isEmpty()) {
            if (usage == null || usage.isNull()) {
                malformed("event " + events + " has empty choices and no usage");
            }
            return "";
        }
        if (choices.size() != 1) {
            malformed("event " + events + " has " + choices.size() + " choices for a request with n=1");
        }
        JsonNode choice = choices.get(0);
        if (!choice.path("index").isIntegralNumber() || choice.get("index").asInt() != 0) {
            malformed("event " + events + " has choice index " + choice.get("index") + ", expected 0");
        }
        JsonNode textNode = choice.get("text");
        if (textNode == null || !textNode.isTextual()) {
            malformed("event " + events + " has no string choices[0].text");
            return "";
        }
        String delta = textNode.asText();
        contentChunks++;
        if (!delta.isEmpty()) {
            nonEmptyChunks++;
            if (finishReason != null) {
                textAfterFinish = true;
            }
        }
        text.append(delta);
        JsonNode reason = choice.get("finish_reason");
        if (reason != null && !reason.isNull()) {
            if (!reason.isTextual() || !(reason.asText().equals("stop") || reason.asText().equals("length"))) {
                malformed("event " + events + " has finish_reason " + reason + ", expected \"stop\" or \"length\"");
            } else if (finishReason != null) {
                malformed("event " + events + " repeats finish_reason (already '" + finishReason + "')");
            } else {
                finishReason = reason.asText();
            }
        }
        return delta;
    }

    private void malformed(String problem) {
        if (malformed.size() < 5) {   // the first few say what went wrong; thousands would drown the report
            malformed.add(problem);
        }
    }

    /** Generated tokens as far as the stream shows them (see the class comment). */
    public int tokens() {
        return usageCompletionTokens != null ? usageCompletionTokens : nonEmptyChunks;
    }

    public String text() {
        return text.toString();
    }

    public String finishReason() {
        return finishReason;
    }

    public int contentChunks() {
        return contentChunks;
    }

    /**
     * Judges the stream once it has ended.
     *
     * @param sse the reader the events came from (its end-of-stream state and anomalies count too)
     * @return the outcome and, unless OK, what was wrong
     */
    public Verdict finish(SseEventReader sse) {
        List<String> truncation = new ArrayList<>();
        List<String> wrong = new ArrayList<>(malformed);
        wrong.addAll(sse.anomalies());
        if (sse.unterminatedEventAtEnd()) {
            truncation.add("stream ended inside an event (no blank line after its data)");
        }
        if (doneCount == 0) {
            truncation.add("stream ended without [DONE]");
        } else if (doneCount > 1) {
            wrong.add("[DONE] sent " + doneCount + " times");
        }
        if (eventAfterDone) {
            wrong.add("events after [DONE]");
        }
        if (finishReason == null) {
            truncation.add("no finish_reason");
        }
        if (textAfterFinish) {
            wrong.add("text after the finish_reason chunk");
        }
        String all = text.toString();
        if (all.isEmpty()) {
            wrong.add("empty text");
        }
        int tokens = tokens();
        String counted = usageCompletionTokens != null ? "usage.completion_tokens" : "non-empty chunks";
        if (tokens > maxTokens) {
            wrong.add(counted + " = " + tokens + " > max_tokens " + maxTokens);
        } else if ("length".equals(finishReason) && tokens < maxTokens) {
            truncation.add("finish_reason length after " + counted + " = " + tokens + " of max_tokens " + maxTokens);
        }
        if (!expectedTexts.isEmpty() && !all.isEmpty() && !expectedTexts.contains(all)) {
            boolean prefix = expectedTexts.stream().anyMatch(e -> e.startsWith(all));
            (prefix ? truncation : wrong).add((prefix ? "text is a strict prefix of an expected text: "
                    : "text matches no expected text: ") + abbreviate(all));
        }
        if (!truncation.isEmpty()) {
            truncation.addAll(wrong);
            return new Verdict(Outcome.TRUNCATED, String.join("; ", truncation));
        }
        if (!wrong.isEmpty()) {
            return new Verdict(Outcome.MALFORMED, String.join("; ", wrong));
        }
        return new Verdict(Outcome.OK, "");
    }

    static String abbreviate(String s) {
        return s.length() <= 120 ? s : s.substring(0, 117) + "...";
    }

    /** The judgement of one stream: its outcome and, unless OK, the problems found. */
    public record Verdict(Outcome outcome, String problem) {
    }
}
