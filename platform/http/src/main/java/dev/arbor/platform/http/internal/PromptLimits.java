package dev.arbor.platform.http.internal;

import dev.arbor.api.pipeline.PipelineService;

/**
 * The server's limits on a prompt: its UTF-8 size, checked on the HTTP thread before anything tokenizes it, and its
 * token count ({@code max_prompt_tokens}), checked inside the request's worker, under its deadline and
 * cancellation. The byte limit is {@code max_prompt_bytes}, or else {@value #BYTES_PER_TOKEN} bytes per allowed
 * prompt token: no token of the shipped vocabularies covers more text than that (GPT-2's longest covers 128 bytes,
 * llama2.c's tokenizer.bin files at most their max_token_length, 7 and 11 here), so a prompt above it cannot fit
 * {@code max_prompt_tokens} and is refused without paying for its tokenization.
 */
final class PromptLimits {
    /** Upper bound on the UTF-8 bytes one token stands for, used when no explicit byte limit is set. */
    static final int BYTES_PER_TOKEN = 256;

    private final int maxTokens;
    private final long maxBytes;
    private final String byteLimitSource;

    PromptLimits(ServerSettings settings) {
        this.maxTokens = settings.maxPromptTokens();
        if (settings.maxPromptBytes() > 0) {
            maxBytes = settings.maxPromptBytes();
            byteLimitSource = "max_prompt_bytes";
        } else if (maxTokens > 0) {
            maxBytes = (long) maxTokens * BYTES_PER_TOKEN;
            byteLimitSource = "max_prompt_tokens " + maxTokens + " x " + BYTES_PER_TOKEN + " bytes per token; set "
                    + "max_prompt_bytes to change it";
        } else {
            maxBytes = 0;
            byteLimitSource = null;
        }
    }

    /** 400 when the prompt text is larger than the byte limit; reads the text once, allocates nothing. */
    void checkBytes(OpenAiRequest req) {
        if (maxBytes <= 0 || req.prompt() == null) {
            return;
        }
        long bytes = utf8Length(req.prompt(), maxBytes);
        if (bytes > maxBytes) {
            throw ApiError.invalid(req.chat() ? "messages" : "prompt", "the prompt is larger than this server's "
                    + "limit of " + maxBytes + " UTF-8 bytes (" + byteLimitSource + "); send a shorter prompt");
        }
    }

    /** 400 when the prompt has more tokens than {@code max_prompt_tokens}; tokenizes, so runs in the worker. */
    void checkTokens(OpenAiRequest req, PipelineService pipelines) {
        if (maxTokens <= 0) {
            return;
        }
        int count = req.inputIds() != null ? req.inputIds().length
                : pipelines.tokenize(req.model(), req.prompt()).length;
        if (count > maxTokens) {
            throw ApiError.invalid(req.chat() ? "messages" : "prompt", "the prompt has " + count
                    + " tokens, more than this server's limit of " + maxTokens + " (max_prompt_tokens)");
        }
    }

    /** 400 when a prompt of {@code count} tokens (a rendered chat template) is over {@code max_prompt_tokens}. */
    void checkTokenCount(OpenAiRequest req, int count) {
        if (maxTokens > 0 && count > maxTokens) {
            throw ApiError.invalid(req.chat() ? "messages" : "prompt", "the prompt has " + count
                    + " tokens, more than this server's limit of " + maxTokens + " (max_prompt_tokens)");
        }
    }

    /** The UTF-8 length of {@code text}, counting stops early once past {@code stopAbove}. */
    static long utf8Length(CharSequence text, long stopAbove) {
        long bytes = 0;
        int n = text.length();
        for (int i = 0; i < n && bytes <= stopAbove; i++) {
            char c = text.charAt(i);
            if (c < 0x80) {
                bytes++;
            } else if (c < 0x800) {
                bytes += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(text.charAt(i + 1))) {
                bytes += 4;
                i++;
            } else if (Character.isSurrogate(c)) {
                bytes++; // a lone surrogate: String.getBytes writes '?'
            } else {
                bytes += 3;
            }
        }
        return bytes;
    }
}
