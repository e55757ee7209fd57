package dev.arbor.tokenizer.huggingface;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.testkit.SharedModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The DS component's behaviour outside a framework: sharing, folders, and closing on deactivation. */
class HuggingFaceTokenizerProviderTest {

    @Test
    void opensAFileOrItsFolderAndSharesOneInstancePerFileAndOptions() {
        Path file = SharedModels.require("tiny-random-gpt2/tokenizer.json");
        HuggingFaceTokenizerProvider provider = new HuggingFaceTokenizerProvider();
        try {
            Tokenizer byFile = provider.open(file, Options.empty());
            Tokenizer byFolder = provider.open(file.getParent(), Options.empty());
            assertThat(byFolder).isSameAs(byFile);
            assertThat(byFile.encode("Hello world", true)).containsExactly(15496, 995);
            Tokenizer cleaning = provider.open(file,
                    Options.of(Map.of(HuggingFaceTokenizer.CLEAN_UP_OPTION, true)));
            assertThat(cleaning).isNotSameAs(byFile);
            assertThat(provider.openCount()).isEqualTo(2);
        } finally {
            provider.deactivate();
        }
    }

    @Test
    void deactivationClosesEveryNativeTokenizer(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), HuggingFaceTokenizerTest.TEMPLATE_TOKENIZER);
        HuggingFaceTokenizerProvider provider = new HuggingFaceTokenizerProvider();
        Tokenizer tokenizer = provider.open(dir, Options.empty());
        assertThat(tokenizer.encode("hello", false)).containsExactly(3);

        provider.deactivate();

        assertThat(provider.openCount()).isZero();
        assertThatThrownBy(() -> tokenizer.encode("hello", false))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.UNAVAILABLE));
        assertThatThrownBy(() -> provider.open(dir, Options.empty()))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.UNAVAILABLE));
    }

    @Test
    void missingFileIsReportedByName(@TempDir Path dir) {
        HuggingFaceTokenizerProvider provider = new HuggingFaceTokenizerProvider();
        Path missing = dir.resolve("tokenizer.json");
        assertThatThrownBy(() -> provider.open(missing, Options.empty()))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.NOT_FOUND))
                .hasMessageContaining(missing.toString());
    }
}
