package dev.arbor.tokenizer.huggingface;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.testkit.SharedModels;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * HF tokenizers' BPE (Rust, a heap over pairs per pre-token) stays linear on the inputs that make a naive BPE
 * quadratic: 400 KB of prose, of one letter repeated and of random letters with no space (a single pre-token).
 * Measured on the 2-core build machine: ~1.5 s for 400 KB, ~0.18 s for 100 KB (half of it DJL building its
 * Encoding object); a quadratic encoder would need minutes. The bound is generous so a loaded machine passes.
 */
class HuggingFaceTokenizerScalingTest {
    private static HuggingFaceTokenizer gpt2;

    @BeforeAll
    static void open() {
        gpt2 = HuggingFaceTokenizer.open(SharedModels.require("tiny-random-gpt2/tokenizer.json"), Options.empty());
    }

    @AfterAll
    static void close() {
        gpt2.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"prose", "one-letter", "random-letters"})
    void fourHundredKilobytesEncodeInLinearTime(String kind) {
        String text = text(kind, 400_000);
        gpt2.encode(text.substring(0, 40_000), true); // warm-up
        long start = System.nanoTime();
        int[] ids = gpt2.encode(text, true);
        long millis = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("HF tokenizer (GPT-2), 400 KB of %s: %d ids in %d ms%n", kind, ids.length, millis);
        assertThat(ids).isNotEmpty();
        assertThat(millis).as("400 KB encode time in ms").isLessThan(10_000);
    }

    static String text(String kind, int bytes) {
        StringBuilder sb = new StringBuilder(bytes);
        Random random = new Random(1);
        while (sb.length() < bytes) {
            switch (kind) {
                case "prose" -> sb.append("Once upon a time, there was a little girl named Lily. She liked to play "
                        + "outside in the sunshine with her friends. ");
                case "one-letter" -> sb.append('a');
                default -> sb.append((char) ('a' + random.nextInt(26)));
            }
        }
        return sb.substring(0, bytes);
    }
}
