package dev.arbor.api.pipeline;

import dev.arbor.api.Options;
import java.util.Objects;

/**
 * The tokenizer of a pipeline.
 *
 * @param format the {@code arbor.part} name of a {@code TokenizerProvider} ({@code llama2c}, {@code huggingface})
 * @param path   the tokenizer file, after variable substitution
 */
public record TokenizerRef(String format, String path, Options options) {
    public TokenizerRef {
        Objects.requireNonNull(format, "tokenizer format");
        Objects.requireNonNull(path, "tokenizer path");
        options = options == null ? Options.empty() : options;
    }
}
