package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.pipeline.PipelineStatus;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Builds OpenAI's response, chunk, model-list and error objects (field names and shapes as OpenAI sends them). */
final class OpenAiResponses {
    static final ObjectMapper MAPPER = new ObjectMapper();

    private OpenAiResponses() {
    }

    /**
     * One generated token with its text and log-probability; {@code bytes} (the token's exact bytes) and {@code top}
     * (the alternatives it was chosen among, most likely first) when the platform reported them, else null and the
     * text is what the token completed.
     */
    record TokenLogprob(int token, String text, double logprob, byte[] bytes,
                        List<dev.arbor.api.pipeline.ScoredToken> top) {
        TokenLogprob(int token, String text, double logprob) {
            this(token, text, logprob, null, null);
        }

        /** The platform's report of a token: its own text and bytes, and its alternatives. */
        static TokenLogprob of(dev.arbor.api.pipeline.ScoredToken chosen,
                               List<dev.arbor.api.pipeline.ScoredToken> alternatives) {
            return new TokenLogprob(chosen.id(), chosen.text(), chosen.logProbability(), chosen.bytes(),
                    alternatives);
        }
    }

    /** One finished choice. */
    record Choice(int index, String text, List<TokenLogprob> logprobs, String finishReason) {
    }

    /** Identity shared by a response and all its chunks. */
    record Meta(String id, long created, String model, boolean chat) {
        String object(boolean chunk) {
            return chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
        }
    }

    static ObjectNode error(ApiError e) {
        ObjectNode root = MAPPER.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", e.getMessage());
        error.put("type", e.type);
        error.put("param", e.param);
        error.put("code", e.code);
        return root;
    }

    static ObjectNode models(List<PipelineStatus> pipelines, long created) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("object", "list");
        ArrayNode data = root.putArray("data");
        for (PipelineStatus p : pipelines) {
            if (p.ready()) {
                ObjectNode m = data.addObject();
                m.put("id", p.name());
                m.put("object", "model");
                m.put("created", created);
                m.put("owned_by", "arbor");
            }
        }
        return root;
    }

    static ObjectNode usage(int promptTokens, int completionTokens) {
        ObjectNode usage = MAPPER.createObjectNode();
        usage.put("prompt_tokens", promptTokens);
        usage.put("completion_tokens", completionTokens);
        usage.put("total_tokens", promptTokens + completionTokens);
        return usage;
    }

    /** A whole (non-streamed) response. {@code logprobs}: whether they were asked for ({@code top} alternatives). */
    static ObjectNode response(Meta meta, List<Choice> choices, boolean logprobs, int top, int promptTokens,
                               StrategyUsage strategy) {
        ObjectNode root = head(meta, false);
        ArrayNode array = root.putArray("choices");
        int completionTokens = 0;
        for (Choice c : choices) {
            ObjectNode choice = array.addObject();
            choice.put("index", c.index());
            if (meta.chat()) {
                ObjectNode message = choice.putObject("message");
                message.put("role", "assistant");
                message.put("content", c.text());
                message.putNull("refusal");
            } else {
                choice.put("text", c.text());
            }
            putLogprobs(choice, meta.chat(), logprobs ? c.logprobs() : null, top, 0);
            choice.put("finish_reason", c.finishReason());
            completionTokens += c.logprobs().size();
        }
        ObjectNode usage = usage(promptTokens, completionTokens);
        strategy.writeTo(usage);
        root.set("usage", usage);
        return root;
    }

    /**
     * A streamed chunk for choice {@code index}: {@code delta} text (chat: with the role on a choice's first chunk),
     * its tokens' log-probabilities when asked for, and {@code finishReason} on a choice's last chunk.
     */
    static ObjectNode chunk(Meta meta, int index, String delta, boolean first, List<TokenLogprob> logprobs, int top,
                            int textOffset, String finishReason, boolean includeUsage) {
        ObjectNode root = head(meta, true);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", index);
        if (meta.chat()) {
            ObjectNode d = choice.putObject("delta");
            if (first) {
                d.put("role", "assistant");
            }
            if (delta != null) {
                d.put("content", delta);
            }
        } else {
            choice.put("text", delta == null ? "" : delta);
        }
        putLogprobs(choice, meta.chat(), logprobs, top, textOffset);
        if (finishReason == null) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", finishReason);
        }
        if (includeUsage) {
            root.putNull("usage"); // OpenAI: every chunk but the last carries "usage": null when usage is asked for
        }
        return root;
    }

    /** The last chunk of a stream that asked for usage: no choices, the usage of all choices. */
    static ObjectNode usageChunk(Meta meta, int promptTokens, int completionTokens, StrategyUsage strategy) {
        ObjectNode root = head(meta, true);
        root.putArray("choices");
        ObjectNode usage = usage(promptTokens, completionTokens);
        strategy.writeTo(usage);
        root.set("usage", usage);
        return root;
    }

    private static ObjectNode head(Meta meta, boolean chunk) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("id", meta.id());
        root.put("object", meta.object(chunk));
        root.put("created", meta.created());
        root.put("model", meta.model());
        return root;
    }

    /**
     * Completions: {@code {"tokens", "token_logprobs", "top_logprobs", "text_offset"}}; chat: {@code {"content":
     * [{"token", "logprob", "bytes", "top_logprobs"}]}}. The alternatives are the {@code top} most likely tokens of
     * the processed distribution the token was chosen from; completions' legacy form also lists the chosen token
     * when it is not among them (OpenAI: "up to logprobs+1 elements"), chat lists exactly the top ones. A token
     * for which the platform reported no alternatives (a greedy choice the pipeline's selector did not make) lists
     * itself only. Null when not asked for.
     */
    private static void putLogprobs(ObjectNode choice, boolean chat, List<TokenLogprob> tokens, int top,
                                    int textOffset) {
        if (tokens == null) {
            choice.putNull("logprobs");
            return;
        }
        ObjectNode lp = choice.putObject("logprobs");
        if (chat) {
            ArrayNode content = lp.putArray("content");
            for (TokenLogprob t : tokens) {
                ObjectNode entry = content.addObject();
                entry.put("token", t.text());
                entry.put("logprob", finite(t.logprob()));
                putBytes(entry, t.bytes() != null ? t.bytes() : t.text().getBytes(StandardCharsets.UTF_8));
                ArrayNode alternatives = entry.putArray("top_logprobs");
                if (top > 0 && t.top() != null && !t.top().isEmpty()) {
                    for (int i = 0; i < Math.min(top, t.top().size()); i++) {
                        dev.arbor.api.pipeline.ScoredToken a = t.top().get(i);
                        ObjectNode alt = alternatives.addObject();
                        alt.put("token", a.text());
                        alt.put("logprob", finite(a.logProbability()));
                        putBytes(alt, a.bytes());
                    }
                } else if (top > 0) {
                    ObjectNode alt = alternatives.addObject();
                    alt.put("token", t.text());
                    alt.put("logprob", finite(t.logprob()));
                    putBytes(alt, t.bytes() != null ? t.bytes() : t.text().getBytes(StandardCharsets.UTF_8));
                }
            }
            lp.putNull("refusal");
        } else {
            ArrayNode texts = lp.putArray("tokens");
            ArrayNode values = lp.putArray("token_logprobs");
            ArrayNode alternatives = lp.putArray("top_logprobs");
            ArrayNode offsets = lp.putArray("text_offset");
            int offset = textOffset;
            for (TokenLogprob t : tokens) {
                texts.add(t.text());
                values.add(finite(t.logprob()));
                ObjectNode alt = alternatives.addObject();
                if (top > 0 && t.top() != null) {
                    for (int i = 0; i < Math.min(top, t.top().size()); i++) {
                        dev.arbor.api.pipeline.ScoredToken a = t.top().get(i);
                        if (!alt.has(a.text())) {
                            alt.put(a.text(), finite(a.logProbability()));
                        }
                    }
                }
                if (top > 0 && !alt.has(t.text())) {
                    alt.put(t.text(), finite(t.logprob())); // the chosen token, when not among the top ones
                }
                offsets.add(offset);
                offset += t.text().length();
            }
        }
    }

    /** JSON has no NaN/infinity; a token whose log-probability is unknown reports the lowest finite value. */
    private static double finite(double v) {
        return Double.isFinite(v) ? v : -9999.0;
    }

    private static void putBytes(ObjectNode entry, byte[] value) {
        ArrayNode bytes = entry.putArray("bytes");
        for (byte b : value) {
            bytes.add(b & 0xff);
        }
    }
}
