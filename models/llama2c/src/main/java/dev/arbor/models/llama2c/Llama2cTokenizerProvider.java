package dev.arbor.models.llama2c;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.api.tokenizer.TokenizerProvider;
import java.nio.file.Path;
import org.osgi.service.component.annotations.Component;

/**
 * Opens llama2.c {@code tokenizer.bin} files ({@link Llama2cTokenizer}). Option {@code vocab_size} (int, default 0)
 * makes the reader expect exactly that many tokens, as run.c does with the model's vocab_size; 0 reads to the end.
 */
@Component(immediate = true, service = TokenizerProvider.class, property = {PartProperties.NAME + "=llama2c",
        PartProperties.DESCRIPTION + "=llama2.c tokenizer.bin (byte-level BPE as run.c)"})
public class Llama2cTokenizerProvider implements TokenizerProvider {
    /** Option key: expected number of tokens (0 = until end of file). */
    public static final String VOCAB_SIZE = "vocab_size";

    @Override
    public Tokenizer open(Path path, Options options) {
        Options o = options == null ? Options.empty() : options;
        return Llama2cTokenizer.read(path, o.integer(VOCAB_SIZE, 0, 0, Integer.MAX_VALUE));
    }
}
