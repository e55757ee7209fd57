package dev.arbor.generation.dinfer;

import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.TokenProposer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * dInfer's credit-threshold decoder ({@code CreditThresholdParallelDecoder._apply_credit_fusion}, METHODS.md §3.5):
 * a per-block credit {@code C[position][token]} accumulates how consistently a position has predicted a token.
 * Each forward after the block's first decays every credit by {@code beta}; every masked position then adds
 * {@code (top-1 probability)^gamma} to the credit of its top-1 token (softmax of the raw logits); the logits are fused
 * as {@code logits + alpha * log(1 + C)} and the {@link ThresholdDecoder} rule runs on the fused logits (MASK
 * included: the top-1 token can be MASK and earn credit, and a fused draw of MASK abstains, as in dInfer). Credits
 * are cleared when the block is complete (dInfer keys them by block and clears them when no MASK is left, which
 * decodes the same). With {@code alpha = 0} it is exactly the threshold decoder.
 */
final class CreditDecoder implements ParallelDecoder {
    private final TokenProposer proposer;
    private final double threshold;
    private final double alpha;
    private final double gamma;
    private final double beta;
    private final Map<Integer, float[]> credit = new HashMap<>();

    CreditDecoder(TokenProposer proposer, double threshold, double alpha, double gamma, double beta) {
        this.proposer = proposer;
        this.threshold = threshold;
        this.alpha = alpha;
        this.gamma = gamma;
        this.beta = beta;
    }

    @Override
    public List<Proposal> decode(int iteration, int[] positions, float[][] logits) {
        if (iteration > 0) {
            for (float[] c : credit.values()) {
                for (int v = 0; v < c.length; v++) {
                    c[v] *= (float) beta;
                }
            }
        }
        float[][] fusedRows = new float[positions.length][];
        for (int i = 0; i < positions.length; i++) {
            float[] row = logits[i];
            int top = 0;
            for (int v = 1; v < row.length; v++) {
                if (row[v] > row[top]) {
                    top = v;
                }
            }
            double sum = 0;
            for (float l : row) {
                sum += Math.exp(l - row[top]);
            }
            float[] c = credit.computeIfAbsent(positions[i], k -> new float[row.length]);
            c[top] += (float) Math.pow(1.0 / sum, gamma);
            float[] fused = row.clone();
            for (int v = 0; v < fused.length; v++) {
                fused[v] += (float) (alpha * Math.log1p(c[v]));
            }
            fusedRows[i] = fused;
        }
        return ThresholdDecoder.decodeUnlessMask(proposer, positions, fusedRows, threshold);
    }

    @Override
    public void blockDone() {
        credit.clear();
    }
}
