package dev.arbor.api.model;

/** Which position a logit row predicts. */
public enum LogitAlignment {
    /** Row i predicts position i+1 (causal LMs, Dream-style diffusion LMs). */
    NEXT,
    /** Row i predicts position i (LLaDA-style masked diffusion LMs). */
    SAME;

    /** The logit row that predicts {@code position}. */
    public int rowFor(int position) {
        return this == NEXT ? position - 1 : position;
    }
}
