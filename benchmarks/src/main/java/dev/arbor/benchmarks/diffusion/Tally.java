package dev.arbor.benchmarks.diffusion;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

/**
 * What one strategy configuration did over the benchmark's prompts: tokens emitted, positions decoded, forward
 * passes (of every model it ran: a guide's too), wall time per round, the judge's perplexity and the share of
 * distinct bigrams (greedy diffusion decoding of a tiny model tends to repeat itself, which a judge rewards with a low
 * perplexity, so repetition is reported beside it). Not thread-safe.
 */
public final class Tally {
    private final String label;
    private final long[] roundNanos;
    private final JudgePerplexity judge;
    private long tokens;
    private long decoded;
    private long forwards;
    private long samples;
    private double distinct2;
    private int agreeing;
    private int compared;
    private String refused;

    public Tally(String label, int rounds, JudgePerplexity judge) {
        this.label = label;
        this.roundNanos = new long[rounds];
        this.judge = judge;
    }

    public String label() {
        return label;
    }

    /** Counts one sample (first round only: greedy decoding gives the same sample every round). */
    public void sample(int[] prompt, int[] generated, long decodedPositions, long forwardPasses) {
        tokens += generated.length;
        decoded += decodedPositions;
        forwards += forwardPasses;
        samples++;
        distinct2 += distinctBigrams(generated);
        judge.add(prompt, generated);
    }

    /** Adds {@code nanos} to round {@code round}'s wall time. */
    public void time(int round, long nanos) {
        roundNanos[round] += nanos;
    }

    /** Marks this configuration as refused by its strategy (with the strategy's message); it is not run again. */
    public void refuse(String message) {
        refused = message;
    }

    /** The strategy's refusal, or null when it ran. */
    public String refused() {
        return refused;
    }

    /** Records whether the other backend gave the same tokens for a sample. */
    public void compared(boolean same) {
        compared++;
        agreeing += same ? 1 : 0;
    }

    public double tokensPerForward() {
        return (double) tokens / forwards;
    }

    public double decodedPerForward() {
        return (double) decoded / forwards;
    }

    public double forwardsPerSample() {
        return (double) forwards / samples;
    }

    public double tokensPerSample() {
        return (double) tokens / samples;
    }

    /** Emitted tokens per second, from the median round. */
    public double tokensPerSecond() {
        return tokens / (medianNanos() / 1e9);
    }

    public double medianNanos() {
        long[] sorted = roundNanos.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }

    public double perplexity() {
        return judge.perplexity();
    }

    /** Mean over samples of distinct bigrams / bigrams. */
    public double distinct2() {
        return distinct2 / samples;
    }

    /** "agreeing/compared" for the other backend, or "" when not compared. */
    public String agreement() {
        return compared == 0 ? "" : agreeing + "/" + compared;
    }

    static double distinctBigrams(int[] tokens) {
        if (tokens.length < 2) {
            return 1.0;
        }
        Set<Long> seen = new HashSet<>();
        for (int i = 1; i < tokens.length; i++) {
            seen.add(((long) tokens[i - 1] << 32) | (tokens[i] & 0xffffffffL));
        }
        return (double) seen.size() / (tokens.length - 1);
    }
}
