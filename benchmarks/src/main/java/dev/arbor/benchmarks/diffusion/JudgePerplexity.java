package dev.arbor.benchmarks.diffusion;

import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.NativeAttention;

/**
 * Sample quality as an autoregressive judge sees it: the teacher-forced negative log-likelihood of generated tokens
 * given the prompt, under a causal LM with the same tokenizer, accumulated over samples into one perplexity
 * {@code exp(total NLL / total tokens)} (every token weighs the same, as in a corpus perplexity). One stateless
 * causal forward per sample. Not thread-safe.
 */
public final class JudgePerplexity {
    private final ModelBackend judge;
    private double nll;
    private long tokens;

    /** {@code judge}: a causal LM whose row {@code p} predicts position {@code p + 1}. */
    public JudgePerplexity(ModelBackend judge) {
        if (judge.card().nativeAttention() != NativeAttention.CAUSAL
                || judge.card().alignment() != LogitAlignment.NEXT) {
            throw new IllegalArgumentException("the judge must be a causal LM with NEXT alignment, got "
                    + judge.card());
        }
        this.judge = judge;
    }

    /** Adds the NLL of {@code generated} after {@code prompt} (a non-empty prompt; BOS counts as one). */
    public void add(int[] prompt, int[] generated) {
        if (generated.length == 0) {
            return;
        }
        int max = judge.card().maxPositions();
        int n = Math.min(generated.length, max - prompt.length);
        int[] seq = new int[prompt.length + n];
        System.arraycopy(prompt, 0, seq, 0, prompt.length);
        System.arraycopy(generated, 0, seq, prompt.length, n);
        int[] rows = new int[n];
        for (int i = 0; i < n; i++) {
            rows[i] = prompt.length - 1 + i;
        }
        float[][] logits = judge.forward(ForwardRequest.builder(new int[][] {seq}).attention(AttentionSpec.CAUSAL)
                .logitRows(new int[][] {rows}).build()).logits()[0];
        for (int i = 0; i < n; i++) {
            nll += -logSoftmax(logits[i], generated[i]);
        }
        tokens += n;
    }

    /** Tokens scored so far. */
    public long tokens() {
        return tokens;
    }

    /** {@code exp(mean NLL)} over every scored token; NaN before any. */
    public double perplexity() {
        return tokens == 0 ? Double.NaN : Math.exp(nll / tokens);
    }

    static double logSoftmax(float[] logits, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l - max);
        }
        return logits[token] - max - Math.log(sum);
    }
}
