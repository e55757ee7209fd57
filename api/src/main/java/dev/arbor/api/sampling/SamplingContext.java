package dev.arbor.api.sampling;

import java.util.Arrays;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * What processors and selectors may read about the row being decoded: its token history (prompt followed by the
 * tokens generated so far) and the request's seeded RNG. Generators own it and append tokens as they commit them;
 * it is not thread-safe.
 */
public final class SamplingContext {
    private int[] tokens;
    private int length;
    private final int promptLength;
    private final RandomGenerator random;
    private final int vocabSize;

    public SamplingContext(int[] prompt, int vocabSize, RandomGenerator random) {
        Objects.requireNonNull(prompt, "prompt");
        this.tokens = Arrays.copyOf(prompt, Math.max(16, prompt.length * 2));
        this.length = prompt.length;
        this.promptLength = prompt.length;
        this.vocabSize = vocabSize;
        this.random = Objects.requireNonNull(random, "random");
    }

    /** A context with a seeded {@link SplittableRandom}, the RNG every Arbor request uses. */
    public static SamplingContext seeded(int[] prompt, int vocabSize, long seed) {
        return new SamplingContext(prompt, vocabSize, new SplittableRandom(seed));
    }

    /** Number of tokens in the history (prompt included). */
    public int length() {
        return length;
    }

    /** Number of prompt tokens at the start of the history. */
    public int promptLength() {
        return promptLength;
    }

    /** Number of tokens generated so far. */
    public int generatedLength() {
        return length - promptLength;
    }

    /** The token at {@code index} of the history. */
    public int token(int index) {
        if (index < 0 || index >= length) {
            throw new IndexOutOfBoundsException("history index " + index + " of " + length);
        }
        return tokens[index];
    }

    /** A copy of the history. */
    public int[] tokens() {
        return Arrays.copyOf(tokens, length);
    }

    /** A copy of the generated tokens only. */
    public int[] generated() {
        return Arrays.copyOfRange(tokens, promptLength, length);
    }

    public int vocabSize() {
        return vocabSize;
    }

    /** The request's seeded RNG; every random draw of a request comes from here, in a documented order. */
    public RandomGenerator random() {
        return random;
    }

    /** Commits {@code token} to the history (called by generators). */
    public void append(int token) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[length++] = token;
    }

    /** Drops history back to {@code newLength} tokens, never below the prompt (speculative rollback). */
    public void truncate(int newLength) {
        if (newLength < promptLength || newLength > length) {
            throw new IllegalArgumentException("cannot truncate history of " + length + " (prompt " + promptLength
                    + ") to " + newLength);
        }
        length = newLength;
    }

    /** An independent copy sharing nothing but the RNG (beams, CFG twins). */
    public SamplingContext fork() {
        SamplingContext copy = new SamplingContext(Arrays.copyOf(tokens, promptLength), vocabSize, random);
        for (int i = promptLength; i < length; i++) {
            copy.append(tokens[i]);
        }
        return copy;
    }
}
