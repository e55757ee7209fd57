package dev.arbor.diffusion;

import java.util.Arrays;

/**
 * The sequence a masked-diffusion decoder works on: the prompt followed by a generation region that starts as MASK
 * tokens and is filled in any order. Positions are absolute (the prompt occupies {@code 0..promptLength-1}).
 * Remembers at which step each generated position was decoded, so policies that revisit decisions (running
 * confidence remasking) and tests can see the decoding order. Not thread-safe: one request owns it.
 */
public final class Canvas {
    private final int[] tokens;
    private final int promptLength;
    private final int maskTokenId;
    private final int[] decodedAt;
    private int masked;

    /** A canvas of {@code prompt} followed by {@code genLength} MASK tokens. */
    public Canvas(int[] prompt, int genLength, int maskTokenId) {
        if (genLength < 0) {
            throw new IllegalArgumentException("genLength must not be negative, got " + genLength);
        }
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] == maskTokenId) {
                // Infilling prompts would need a different emission order; say so rather than decode them silently.
                throw new IllegalArgumentException("prompt token " + i + " is the MASK id " + maskTokenId
                        + "; masked prompts (infilling) are not supported");
            }
        }
        this.promptLength = prompt.length;
        this.maskTokenId = maskTokenId;
        this.tokens = Arrays.copyOf(prompt, prompt.length + genLength);
        Arrays.fill(tokens, prompt.length, tokens.length, maskTokenId);
        this.decodedAt = new int[genLength];
        Arrays.fill(decodedAt, -1);
        this.masked = genLength;
    }

    /** Prompt plus generation region. */
    public int length() {
        return tokens.length;
    }

    public int promptLength() {
        return promptLength;
    }

    /** Positions in the generation region. */
    public int genLength() {
        return tokens.length - promptLength;
    }

    public int maskTokenId() {
        return maskTokenId;
    }

    public int token(int position) {
        return tokens[position];
    }

    /** A copy of the whole canvas (prompt included). */
    public int[] tokens() {
        return tokens.clone();
    }

    /** A copy of {@code [from, to)}. */
    public int[] tokens(int from, int to) {
        return Arrays.copyOfRange(tokens, from, to);
    }

    /** A copy of the generation region, MASK where not yet decoded. */
    public int[] generated() {
        return Arrays.copyOfRange(tokens, promptLength, tokens.length);
    }

    public boolean isMasked(int position) {
        return tokens[position] == maskTokenId;
    }

    /** MASK tokens left in the whole canvas. */
    public int maskedCount() {
        return masked;
    }

    /** MASK tokens left in {@code [from, to)}. */
    public int maskedCount(int from, int to) {
        int n = 0;
        for (int p = from; p < to; p++) {
            if (tokens[p] == maskTokenId) {
                n++;
            }
        }
        return n;
    }

    /** The masked positions of {@code [from, to)}, ascending. */
    public int[] maskedPositions(int from, int to) {
        int[] out = new int[maskedCount(from, to)];
        int n = 0;
        for (int p = from; p < to; p++) {
            if (tokens[p] == maskTokenId) {
                out[n++] = p;
            }
        }
        return out;
    }

    /** Decodes the masked generated {@code position} to {@code token} at {@code step}. */
    public void commit(int position, int token, int step) {
        checkGenerated(position);
        if (tokens[position] != maskTokenId) {
            throw new IllegalStateException("position " + position + " is already decoded (token "
                    + tokens[position] + " at step " + decodedAt[position - promptLength] + ")");
        }
        if (token == maskTokenId) {
            throw new IllegalArgumentException("cannot decode position " + position + " to the MASK id");
        }
        tokens[position] = token;
        decodedAt[position - promptLength] = step;
        masked--;
    }

    /** Puts MASK back at a decoded generated {@code position} (for policies that revisit decisions). */
    public void remask(int position) {
        checkGenerated(position);
        if (tokens[position] == maskTokenId) {
            throw new IllegalStateException("position " + position + " is already masked");
        }
        tokens[position] = maskTokenId;
        decodedAt[position - promptLength] = -1;
        masked++;
    }

    /** The step at which generated {@code position} was decoded, or -1 while it is masked. */
    public int decodedAt(int position) {
        checkGenerated(position);
        return decodedAt[position - promptLength];
    }

    private void checkGenerated(int position) {
        if (position < promptLength || position >= tokens.length) {
            throw new IndexOutOfBoundsException("position " + position + " is outside the generation region ["
                    + promptLength + ", " + tokens.length + ")");
        }
    }
}
