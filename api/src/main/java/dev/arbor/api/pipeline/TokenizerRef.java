package dev.arbor.api.pipeline;

import dev.arbor.api.Options;
import java.util.Objects;

/**
 * The tokenizer of a pipeline.
 *
 * @param format       the {@code arbor.part} name of a {@code TokenizerProvider} ({@code llama2c}, {@code huggingface})
 * @param path         the tokenizer file, after variable substitution
 * @param chatTemplate the chat template the operator gives the pipeline: the name of a built-in template
 *                     ({@code arbor-plain}, {@code chatml}) or Jinja text; null when the pipeline file gives none (a
 *                     Hugging Face tokenizer's {@code tokenizer_config.json} may still carry one). Since 1.4.
 */
public record TokenizerRef(String format, String path, Options options, String chatTemplate) {
    public TokenizerRef {
        Objects.requireNonNull(format, "tokenizer format");
        Objects.requireNonNull(path, "tokenizer path");
        options = options == null ? Options.empty() : options;
    }

    /** A tokenizer without a chat template of the pipeline's own. */
    public TokenizerRef(String format, String path, Options options) {
        this(format, path, options, null);
    }
}
