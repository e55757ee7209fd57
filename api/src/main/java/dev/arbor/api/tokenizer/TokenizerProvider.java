package dev.arbor.api.tokenizer;

import dev.arbor.api.Options;
import java.nio.file.Path;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * Opens tokenizer files of one format; registered as a service with {@code arbor.part} set to the format
 * ({@code llama2c}, {@code huggingface}, ...).
 */
@ConsumerType
public interface TokenizerProvider {

    /** Loads the tokenizer at {@code path}; fails with an {@code ArborException} naming the file and the cause. */
    Tokenizer open(Path path, Options options);
}
