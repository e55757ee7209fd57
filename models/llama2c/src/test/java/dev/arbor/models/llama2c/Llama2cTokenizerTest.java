package dev.arbor.models.llama2c;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class Llama2cTokenizerTest {
    private static Llama2cTokenizer tok;

    @BeforeAll
    static void load() {
        tok = Llama2cTokenizer.read(Stories260K.tokenizer(), 0);
    }

    /** Token bytes concatenate to the decoded text after the first token, whose leading space decode strips. */
    @ParameterizedTest
    @ValueSource(strings = {"Once upon a time, a girl.", "caf\u00e9 \u00fc\u4e2d", "a\nb\tc {\"k\": [1, 2]}"})
    void tokenBytesConcatenateToTheDecodedText(String text) throws IOException {
        int[] ids = tok.encode(text, true);
        java.io.ByteArrayOutputStream joined = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < ids.length; i++) {
            byte[] b = tok.tokenBytes(ids[i]);
            int from = i == 1 && b.length > 0 && b[0] == ' ' ? 1 : 0; // after BOS sentencepiece drops the space
            joined.write(b, from, b.length - from);
        }
        assertThat(joined.toString(java.nio.charset.StandardCharsets.UTF_8)).isEqualTo(tok.decode(ids));
        assertThat(tok.tokenBytes(1)).isEmpty();
        assertThat(tok.tokenBytes(3 + '\n')).containsExactly((byte) '\n');
        assertThat(tok.tokenBytes(403)).isEqualTo(" Once".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    @Test
    void readsTok512() {
        assertThat(tok.vocabSize()).isEqualTo(512);
        assertThat(tok.maxTokenLength()).isEqualTo(7);
        assertThat(tok.tokenText(1)).isEqualTo("\n<s>\n");
        assertThat(tok.tokenText(403)).isEqualTo(" Once");
        assertThat(tok.bosTokenId()).hasValue(1);
        assertThat(tok.eosTokenId()).hasValue(2);
    }

    /**
     * Expected ids worked out with run.c's encode on tok512.bin (an independent re-implementation of the algorithm,
     * checked piece by piece): BOS, the dummy prefix " ", code points, then best-score merges.
     */
    @Test
    void encodeFollowsRunCsAlgorithm() {
        // " Once" " upon" " a" " time": the dummy prefix merges into each word's leading space piece.
        assertThat(tok.encode("Once upon a time", true)).containsExactly(1, 403, 407, 261, 378);
        assertThat(tok.encode("Once upon a time", false)).containsExactly(403, 407, 261, 378);
        assertThat(tok.encode("Hello, world!", true)).containsExactly(1, 346, 306, 414, 432, 263, 304, 341, 443);
        // "ï" is not a piece: byte fallback <0xC3><0xAF> = ids 0xC3+3, 0xAF+3; "é" is a piece (410); the emoji is
        // four byte tokens.
        assertThat(tok.encode("naïve café 😀", true))
                .containsExactly(1, 297, 412, 0xC3 + 3, 0xAF + 3, 360, 280, 412, 431, 485, 410, 0xF0 + 3, 0x9F + 3,
                        0x98 + 3, 0x80 + 3);
        assertThat(tok.encode("", true)).containsExactly(1);
        assertThat(tok.encode("", false)).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"Once upon a time", "Hello, world!", "Lily's mom said, \"Let's go to the park.\"",
            "  two leading spaces", "tabs\tand\nnew lines\n", "naïve café 😀 — ∑ ü 日本語", "x", "!!!???", "123 456"})
    void decodeInvertsEncode(String text) {
        assertThat(tok.decode(tok.encode(text, false))).isEqualTo(text);
        assertThat(tok.decode(tok.encode(text, true))).isEqualTo(text);
    }

    @Test
    void publishedStoryReencodesToTheSameText() {
        String text = Stories260K.expectedText();
        int[] ids = tok.encode(text, true);
        assertThat(ids[0]).isEqualTo(1);
        assertThat(tok.decode(ids)).isEqualTo(text);
        // The model's own greedy ids start like the re-encoding (the model writes the same pieces).
        int[] expected = Stories260K.expectedIds();
        assertThat(Arrays.copyOfRange(ids, 1, 6)).containsExactly(Arrays.copyOf(expected, 5));
    }

    @Test
    void decodeStripsTheSpaceAfterBosAndKeepsOthers() {
        assertThat(tok.decode(new int[] {1, 403, 407})).isEqualTo("Once upon");
        assertThat(tok.decode(new int[] {407, 1, 403})).isEqualTo("uponOnce");
        // Byte pieces assemble into one UTF-8 character.
        assertThat(tok.decode(new int[] {0xE2 + 3, 0x82 + 3, 0xAC + 3})).isEqualTo("€");
        // A lone control byte is dropped, as run.c's safe_printf does; EOS is skipped.
        assertThat(tok.decode(new int[] {0x07 + 3, 2})).isEmpty();
    }

    @Test
    void providerOpensWithVocabSizeOption() {
        Tokenizer t = new Llama2cTokenizerProvider().open(Stories260K.tokenizer(),
                Options.of(java.util.Map.of("vocab_size", 512)));
        assertThat(t.vocabSize()).isEqualTo(512);
        assertThatThrownBy(() -> new Llama2cTokenizerProvider().open(Stories260K.tokenizer(),
                Options.of(java.util.Map.of("vocab_size", 600))))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("tok512.bin").hasMessageContaining("truncated at token 512");
    }

    @Test
    void truncatedTokenizerFileNamesFileAndProblem(@TempDir Path dir) throws IOException {
        byte[] bytes = Files.readAllBytes(Stories260K.tokenizer());
        Path cut = dir.resolve("cut.bin");
        Files.write(cut, Arrays.copyOf(bytes, bytes.length - 3));
        assertThatThrownBy(() -> Llama2cTokenizer.read(cut, 0))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining(cut.toString()).hasMessageContaining("truncated at token 511");
        Path tiny = dir.resolve("tiny.bin");
        Files.write(tiny, new byte[] {7, 0});
        assertThatThrownBy(() -> Llama2cTokenizer.read(tiny, 0))
                .isInstanceOf(ArborException.class).hasMessageContaining(tiny.toString())
                .hasMessageContaining("truncated");
        assertThatThrownBy(() -> Llama2cTokenizer.read(dir.resolve("missing.bin"), 0))
                .isInstanceOf(ArborException.class).hasMessageContaining("missing.bin")
                .hasMessageContaining("does not exist");
    }
}
