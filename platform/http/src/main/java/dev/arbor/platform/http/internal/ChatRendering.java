package dev.arbor.platform.http.internal;

import dev.arbor.api.pipeline.ChatMessage;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.RenderedChat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * How a completions or chat request reaches the pipeline, decided in the request's worker (rendering and
 * tokenizing take time and run under its deadline): a chat whose pipeline has a chat template is sent as the
 * template's prompt ids (add_generation_prompt, special tokens written by the template, not added again); any other
 * request as its text (a chat: {@link ChatPrompt}'s plain join), tokenized by the pipeline with special tokens.
 * Either way the prompt's token count is checked against {@code max_prompt_tokens} first. Requests that ask for
 * log-probabilities carry {@code logprobs} and {@code top_logprobs} to the platform.
 */
final class ChatRendering {
    private final int[] ids;

    private ChatRendering(int[] ids) {
        this.ids = ids;
    }

    /** Renders {@code messages} (null for completions) when the pipeline has a template, and checks the size. */
    static ChatRendering of(OpenAiRequest req, List<ChatMessage> messages, PipelineService pipelines,
                            PromptLimits limits) {
        if (messages != null) {
            Optional<RenderedChat> rendered = pipelines.renderChat(req.model(), messages);
            if (rendered.isPresent()) {
                limits.checkTokenCount(req, rendered.get().ids().length);
                return new ChatRendering(rendered.get().ids());
            }
        }
        limits.checkTokens(req, pipelines);
        return new ChatRendering(null);
    }

    /** Completion {@code index} of {@code req} with {@code runOptions}, prompted as decided. */
    CompletionRequest request(OpenAiRequest req, int index, Map<String, Object> runOptions) {
        Map<String, Object> options = new LinkedHashMap<>(runOptions);
        if (req.logprobs()) {
            options.put("logprobs", true);
            options.put("top_logprobs", req.topLogprobs());
        }
        CompletionRequest c = req.toCompletionRequest(index, options);
        return ids == null ? c : new CompletionRequest(c.pipeline(), null, ids.clone(), c.stop(), c.generator(),
                c.processors(), c.options());
    }
}
