package dev.arbor.tokenizer.huggingface;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.testkit.SharedModels;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link HuggingFaceTokenizer#tokenBytes(int)} against the native decoder: the bytes of a token sequence,
 * concatenated, are the UTF-8 of its decoded text, including characters split across byte-level tokens.
 */
class HuggingFaceTokenBytesTest {
    private static HuggingFaceTokenizer gpt2;

    @BeforeAll
    static void openGpt2() {
        gpt2 = HuggingFaceTokenizer.open(SharedModels.require("tiny-random-gpt2/tokenizer.json"), Options.empty());
    }

    @AfterAll
    static void close() {
        if (gpt2 != null) {
            gpt2.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "Hello world",
        "café naïve résumé Ångström Łódź",
        "e\u0301 a\u0308 (combining marks)",
        "日本語のテキスト and 中文 mixed",
        "emoji \uD83D\uDE00\uD83C\uDF89 and \uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67 family",
        "{\"key\": [1, 2.5e-3, true, null], \"s\": \"\\u00e9\\n\"}",
        "tabs\tand\nnewlines\r\n  and    runs of     spaces",
        "<|endoftext|>after the end token",
        " leading space"})
    void gpt2TokenBytesConcatenateToTheDecodedText(String text) {
        int[] ids = gpt2.encode(text, false);
        assertThat(concat(gpt2, ids)).isEqualTo(gpt2.decode(ids).getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void gpt2TokensThatHoldWholeCharactersDecodeToTheirBytes() {
        int partial = 0;
        for (int id = 0; id < gpt2.vocabSize(); id++) {
            byte[] bytes = gpt2.tokenBytes(id);
            if (isValidUtf8(bytes)) {
                assertThat(bytes).as("id %d (%s)", id, gpt2.tokenText(id))
                        .isEqualTo(gpt2.decode(new int[] {id}).getBytes(StandardCharsets.UTF_8));
            } else {
                partial++;
            }
        }
        // GPT-2 has byte tokens for every byte, e.g. the lone lead and continuation bytes of multi-byte characters.
        assertThat(partial).isGreaterThan(100);
    }

    @Test
    void gpt2ByteTokensAndSpecialTokens() {
        assertThat(gpt2.tokenBytes(220)).containsExactly((byte) ' ');
        assertThat(gpt2.tokenBytes(198)).containsExactly((byte) '\n');
        assertThat(gpt2.tokenBytes(18435)).isEqualTo(" Hello".getBytes(StandardCharsets.UTF_8));
        assertThat(gpt2.tokenBytes(50256)).as("<|endoftext|> is special: decode skips it").isEmpty();
        // 'é' is C3 A9: GPT-2's byte tokens for C3 ("Ã") and A9 ("©") hold one byte each.
        int[] ids = gpt2.encode("\u00e9", false);
        assertThat(concat(gpt2, ids)).containsExactly((byte) 0xC3, (byte) 0xA9);
    }

    @Test
    void inverseByteTableIsABijection() {
        int[] inverse = TokenBytes.inverseBytesToUnicode();
        boolean[] seen = new boolean[256];
        for (int value : inverse) {
            if (value >= 0) {
                assertThat(seen[value]).isFalse();
                seen[value] = true;
            }
        }
        for (boolean s : seen) {
            assertThat(s).isTrue();
        }
        assertThat(inverse['\u0120']).isEqualTo(' '); // 'Ġ'
        assertThat(inverse['\u010A']).isEqualTo('\n'); // 'Ċ'
    }

    /**
     * A Llama-style tokenizer.json (BPE with byte fallback, SentencePiece normalizer, Replace/ByteFallback/Fuse/Strip
     * decoder): a character outside the vocabulary becomes {@code <0xXX>} tokens, and the bytes after the first
     * token concatenate to the decoded text (the decoder strips the first token's leading space).
     */
    @Test
    void sentencePieceByteFallbackTokenizer(@TempDir Path dir) throws IOException {
        StringBuilder vocab = new StringBuilder("\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2");
        for (int b = 0; b < 256; b++) {
            vocab.append(String.format(", \"<0x%02X>\": %d", b, 3 + b));
        }
        vocab.append(", \"\u2581\": 259, \"a\": 260, \"b\": 261, \"\u2581a\": 262, \"ab\": 263");
        String json = """
                {"version": "1.0", "truncation": null, "padding": null,
                 "added_tokens": [
                   {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                   {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                   {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
                 "normalizer": {"type": "Sequence", "normalizers": [
                   {"type": "Prepend", "prepend": "\u2581"},
                   {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
                 "pre_tokenizer": null,
                 "post_processor": null,
                 "decoder": {"type": "Sequence", "decoders": [
                   {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                   {"type": "ByteFallback"}, {"type": "Fuse"},
                   {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
                 "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
                   "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                   "vocab": {%s},
                   "merges": ["\u2581 a", "a b"]}}
                """.formatted(vocab);
        Files.writeString(dir.resolve("tokenizer.json"), json, StandardCharsets.UTF_8);
        try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.open(dir, Options.empty())) {
            int[] ids = tokenizer.encode("ab a\u00e9b \u4e2d", false);
            assertThat(ids).contains(3 + 0xC3, 3 + 0xA9, 3 + 0xE4);
            byte[] joined = concat(tokenizer, ids);
            assertThat(joined[0]).isEqualTo((byte) ' ');
            byte[] decoded = tokenizer.decode(ids).getBytes(StandardCharsets.UTF_8);
            assertThat(java.util.Arrays.copyOfRange(joined, 1, joined.length)).isEqualTo(decoded);
            assertThat(tokenizer.tokenBytes(3 + 0xC3)).containsExactly((byte) 0xC3);
            assertThat(tokenizer.tokenBytes(262)).isEqualTo(" a".getBytes(StandardCharsets.UTF_8));
            assertThat(tokenizer.tokenBytes(1)).isEmpty();
        }
    }

    private static byte[] concat(HuggingFaceTokenizer tokenizer, int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) {
            out.writeBytes(tokenizer.tokenBytes(id));
        }
        return out.toByteArray();
    }

    private static boolean isValidUtf8(byte[] bytes) {
        try {
            StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }
}
