package dev.arbor.tokenizer.huggingface;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.testkit.SharedModels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Conformance against the real GPT-2 byte-level BPE {@code tokenizer.json} in the shared models (as shipped with
 * onnxruntime-genai's tiny-random-gpt2: GPT-2's 50257 entries plus CodeGen's 38 whitespace-run tokens), and
 * behaviour on small hand-written tokenizer.json files (templates, truncation, BOS/EOS sources, errors).
 */
class HuggingFaceTokenizerTest {
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

    /** GPT-2 ids every GPT-2 implementation agrees on (tiktoken "gpt2", transformers GPT2TokenizerFast). */
    static List<Arguments> knownGpt2Encodings() {
        return List.of(
                Arguments.of("Hello world", new int[] {15496, 995}),
                Arguments.of("Hello", new int[] {15496}),
                Arguments.of(" Hello", new int[] {18435}),
                Arguments.of("hello", new int[] {31373}),
                Arguments.of(" world", new int[] {995}),
                Arguments.of(" the", new int[] {262}),
                Arguments.of("The", new int[] {464}),
                Arguments.of("!", new int[] {0}),
                Arguments.of(",", new int[] {11}),
                Arguments.of(".", new int[] {13}),
                Arguments.of("\n", new int[] {198}),
                Arguments.of(" ", new int[] {220}),
                Arguments.of("<|endoftext|>", new int[] {50256}),
                Arguments.of("", new int[0]));
    }

    @ParameterizedTest(name = "[{index}] \"{0}\"")
    @MethodSource("knownGpt2Encodings")
    void encodesLikeGpt2(String text, int[] expected) {
        assertThat(gpt2.encode(text, false)).containsExactly(expected);
        // GPT-2's post-processor is ByteLevel: asking for special tokens adds none (no BOS for GPT-2 prompts).
        assertThat(gpt2.encode(text, true)).containsExactly(expected);
    }

    @ParameterizedTest(name = "[{index}] {0}")
    @ValueSource(strings = {
        "Hello world",
        "café naïve résumé Ångström Łódź",
        "e\u0301 a\u0308 o\u0302\u0323 (combining marks, not precomposed)",
        "日本語のテキストです。中文测试，한국어",
        "emoji 🚀🎉 family 👩\u200D👩\u200D👧 flag 🇫🇷 skin 👍🏽",
        "שלום עולם — مرحبا بالعالم \u200Fmixed\u200E RTL",
        "line one\nline two\r\nline three\n\n\n",
        "\ttab\t\tand\t\t\ttabs\t",
        "multiple     spaces   between  words ",
        "  leading and trailing spaces  ",
        "Hello , world . It 's and don 't ?",
        "math ∑ x² ≤ ∞, arrows → ⇒, box ┌─┐",
        "\u0000 nul and \u007f del and \uFEFF bom",
        "<|endoftext|> is text here?"
    })
    void roundTripsLosslessly(String text) {
        int[] ids = gpt2.encode(text, false);
        assertThat(Arrays.stream(ids).allMatch(id -> id >= 0 && id < gpt2.vocabSize())).isTrue();
        if (text.contains("<|endoftext|>")) {
            // The special token encodes to its id and decode skips special tokens, as the API promises.
            assertThat(gpt2.decode(ids)).isEqualTo(text.replace("<|endoftext|>", ""));
        } else {
            assertThat(gpt2.decode(ids)).isEqualTo(text);
        }
    }

    @Test
    void countsAddedTokensInTheVocabularySize() {
        // 50257 GPT-2 entries; this file adds CodeGen's runs of 2..31 spaces and 2..9 tabs as ids 50257..50294,
        // which encode really returns, so vocabSize() must cover them.
        assertThat(gpt2.baseVocabSize()).isEqualTo(50257);
        assertThat(gpt2.vocabSize()).isEqualTo(50295);
        int[] ids = gpt2.encode("a    b", false);
        assertThat(Arrays.stream(ids).max().orElseThrow()).isGreaterThanOrEqualTo(50257);
        assertThat(gpt2.decode(ids)).isEqualTo("a    b");
    }

    @Test
    void decodeSkipsSpecialTokens() {
        assertThat(gpt2.decode(new int[] {50256, 15496, 50256, 995, 50256})).isEqualTo("Hello world");
        assertThat(gpt2.decode(new int[0])).isEmpty();
        assertThat(gpt2.isSpecial(50256)).isTrue();
        assertThat(gpt2.isSpecial(15496)).isFalse();
    }

    @Test
    void readsBosAndEosFromTokenizerConfig() {
        // tokenizer_config.json next to the file: bos_token = eos_token = "<|endoftext|>".
        assertThat(gpt2.bosTokenId()).hasValue(50256);
        assertThat(gpt2.eosTokenId()).hasValue(50256);
    }

    @Test
    void tokenTextIsTheVocabularyEntry() {
        assertThat(gpt2.tokenText(15496)).isEqualTo("Hello");
        assertThat(gpt2.tokenText(995)).isEqualTo("Ġworld");
        assertThat(gpt2.tokenText(198)).isEqualTo("Ċ");
        assertThat(gpt2.tokenText(50256)).isEqualTo("<|endoftext|>");
        assertThat(gpt2.tokenText(50294)).isEqualTo("\t\t");
    }

    @Test
    void refusesIdsOutsideTheVocabulary() {
        assertThatThrownBy(() -> gpt2.decode(new int[] {15496, 50295}))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining("50295").hasMessageContaining("tokenizer.json");
        assertThatThrownBy(() -> gpt2.decode(new int[] {-1})).isInstanceOf(ArborException.class);
        assertThatThrownBy(() -> gpt2.tokenText(50295)).isInstanceOf(ArborException.class);
        assertThatThrownBy(() -> gpt2.encode(null, false)).isInstanceOf(ArborException.class);
    }

    @Test
    void cleanUpOfTokenizationSpacesIsOptIn() {
        HuggingFaceTokenizer cleaning = HuggingFaceTokenizer.open(gpt2.file(),
                Options.of(java.util.Map.of(HuggingFaceTokenizer.CLEAN_UP_OPTION, true)));
        try {
            String text = "Hello , world . It 's";
            assertThat(gpt2.decode(gpt2.encode(text, false))).isEqualTo(text);
            assertThat(cleaning.decode(cleaning.encode(text, false))).isEqualTo("Hello, world. It's");
        } finally {
            cleaning.close();
        }
    }

    @Test
    void isSafeUnderConcurrentUse() throws Exception {
        String text = "The quick brown fox jumps over the lazy dog. 日本語 🚀";
        int[] expected = gpt2.encode(text, false);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                results.add(pool.submit(() -> IntStream.range(0, 200).allMatch(i ->
                        Arrays.equals(gpt2.encode(text, false), expected) && gpt2.decode(expected).equals(text))));
            }
            for (Future<Boolean> result : results) {
                assertThat(result.get()).isTrue();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    // ---------------------------------------------------------------- small hand-written tokenizer.json files

    /**
     * A WordLevel tokenizer with a Llama-style template that prepends {@code <s>}, and a truncation section of
     * 2 tokens in the file that Arbor must switch off.
     */
    static final String TEMPLATE_TOKENIZER = """
            {
              "version": "1.0",
              "truncation": {"direction": "Right", "max_length": 2, "strategy": "LongestFirst", "stride": 0},
              "padding": null,
              "added_tokens": [
                {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": false, "special": true},
                {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": false, "special": true},
                {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": false, "special": true}
              ],
              "normalizer": null,
              "pre_tokenizer": {"type": "Whitespace"},
              "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
              },
              "decoder": null,
              "model": {"type": "WordLevel", "unk_token": "<unk>",
                        "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "hello": 3, "world": 4, "again": 5}}
            }
            """;

    private static Path write(Path dir, String name, String content) throws IOException {
        Path file = dir.resolve(name);
        Files.writeString(file, content, StandardCharsets.UTF_8);
        return file;
    }

    @Test
    void addsTemplateSpecialTokensOnlyWhenAskedAndNeverTruncates(@TempDir Path dir) throws IOException {
        write(dir, "tokenizer.json", TEMPLATE_TOKENIZER);
        try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.open(dir, Options.empty())) {
            assertThat(tokenizer.encode("hello world again", true)).containsExactly(1, 3, 4, 5);
            assertThat(tokenizer.encode("hello world again", false)).containsExactly(3, 4, 5);
            assertThat(tokenizer.decode(new int[] {1, 3, 4, 2})).isEqualTo("hello world");
            assertThat(tokenizer.vocabSize()).isEqualTo(6);
            // No tokenizer_config.json: BOS is what the template prepends, EOS is found by name.
            assertThat(tokenizer.bosTokenId()).hasValue(1);
            assertThat(tokenizer.eosTokenId()).hasValue(2);
        }
    }

    @Test
    void tokenizerConfigWinsForBosAndEos(@TempDir Path dir) throws IOException {
        write(dir, "tokenizer.json", TEMPLATE_TOKENIZER);
        write(dir, "tokenizer_config.json", """
                {"bos_token": {"__type": "AddedToken", "content": "</s>"}, "eos_token": null}
                """);
        try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.open(dir.resolve("tokenizer.json"), null)) {
            assertThat(tokenizer.bosTokenId()).hasValue(2);
            assertThat(tokenizer.eosTokenId()).isEmpty();
        }
    }

    @Test
    void tokenizerConfigNamingAnUnknownTokenIsAnError(@TempDir Path dir) throws IOException {
        write(dir, "tokenizer.json", TEMPLATE_TOKENIZER);
        Path config = write(dir, "tokenizer_config.json", "{\"eos_token\": \"<|im_end|>\"}");
        assertThatThrownBy(() -> HuggingFaceTokenizer.open(dir, Options.empty()))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining(config.toString()).hasMessageContaining("<|im_end|>");
    }

    @Test
    void malformedTokenizerConfigNamesThatFile(@TempDir Path dir) throws IOException {
        write(dir, "tokenizer.json", TEMPLATE_TOKENIZER);
        Path config = write(dir, "tokenizer_config.json", "{\"bos_token\": ");
        assertThatThrownBy(() -> HuggingFaceTokenizer.open(dir, Options.empty()))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining(config.toString()).hasMessageContaining("not valid JSON");
    }

    @Test
    void missingFileIsNotFoundAndNamesTheFile(@TempDir Path dir) {
        Path missing = dir.resolve("nowhere/tokenizer.json");
        assertThatThrownBy(() -> HuggingFaceTokenizer.open(missing, Options.empty()))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.NOT_FOUND))
                .hasMessageContaining(missing.toString()).hasMessageContaining("does not exist");
    }

    @Test
    void folderWithoutTokenizerJsonIsNotFound(@TempDir Path dir) {
        assertThatThrownBy(() -> HuggingFaceTokenizer.open(dir, Options.empty()))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.NOT_FOUND))
                .hasMessageContaining(dir.toString()).hasMessageContaining("holds no tokenizer.json");
    }

    @Test
    void malformedJsonIsABadModelAndNamesTheFile(@TempDir Path dir) throws IOException {
        Path file = write(dir, "tokenizer.json", "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\", ");
        assertThatThrownBy(() -> HuggingFaceTokenizer.open(file, Options.empty()))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining(file.toString()).hasMessageContaining("not valid JSON");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "[1, 2, 3]", "{\"vocab_size\": 50257, \"n_embd\": 768}"})
    void jsonThatIsNotATokenizerIsABadModel(String content, @TempDir Path dir) throws IOException {
        Path file = write(dir, "tokenizer.json", content);
        assertThatThrownBy(() -> HuggingFaceTokenizer.open(file, Options.empty()))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining(file.toString()).hasMessageContaining("not a Hugging Face tokenizer.json");
    }

    @Test
    void tokenizerJsonTheNativeLibraryRejectsIsABadModel(@TempDir Path dir) throws IOException {
        Path file = write(dir, "tokenizer.json", TEMPLATE_TOKENIZER.replace("\"WordLevel\"", "\"NoSuchModel\""));
        assertThatThrownBy(() -> HuggingFaceTokenizer.open(file, Options.empty()))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining(file.toString()).hasMessageContaining("can load");
    }

    @Test
    void closedTokenizerFailsCleanly(@TempDir Path dir) throws IOException {
        write(dir, "tokenizer.json", TEMPLATE_TOKENIZER);
        HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.open(dir, Options.empty());
        tokenizer.close();
        tokenizer.close(); // idempotent
        assertThatThrownBy(() -> tokenizer.encode("hello", false))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.UNAVAILABLE))
                .hasMessageContaining("closed");
        assertThatThrownBy(() -> tokenizer.decode(new int[] {3})).isInstanceOf(ArborException.class);
    }

    @Test
    void cleanUpMatchesTransformers() {
        assertThat(HuggingFaceTokenizer.cleanUpTokenization("a . b ? c ! d , e ' f do n't I 'm it 's we 've you 're"))
                .isEqualTo("a. b? c! d, e'f don't I'm it's we've you're");
    }
}
