package dev.arbor.forge;

import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Sample generation for the model cards, on the exported checkpoint through the reference model (what a user gets,
 * not the training network). The diffusion decoders here are the plain reference procedures, only for showing
 * samples; the decoding bundles (bundles/masked-diffusion, bundles/fast-dllm, ...) are the real implementations.
 */
final class Samplers {
    private Samplers() {
    }

    /** Ancestral sampling from {@code prompt} (BOS first) until EOS or {@code maxNew} tokens; returns new ids. */
    static int[] autoregressive(Llama2cReferenceModel m, int[] prompt, int maxNew, float temperature, float topP,
                                SplittableRandom rng) {
        int[] out = new int[maxNew];
        int n = 0;
        try (DecodeState state = m.newState(1)) {
            float[] logits = last(m.forward(ForwardRequest.builder(new int[][] {prompt}).state(state).lastRowOnly()
                    .build()).logits()[0]);
            int room = m.weights().config().seqLen() - prompt.length;
            while (n < Math.min(maxNew, room)) {
                int next = Sampling.sample(logits, temperature, topP, rng);
                if (next == Llama2cTokenizer.EOS) {
                    break;
                }
                out[n++] = next;
                logits = m.forward(ForwardRequest.next(new int[][] {{next}}, state)).logits()[0][0];
            }
        }
        return Arrays.copyOf(out, n);
    }

    private static float[] last(float[][] rows) {
        return rows[rows.length - 1];
    }

    /**
     * Masked-diffusion decoding with low-confidence remasking (LLaDA, Nie et al. 2025, Alg. 2 with greedy tokens):
     * {@code length} MASKs after the prompt; each step runs the whole sequence with full attention and commits the
     * {@code perStep} masked positions whose most likely token is most probable.
     */
    static int[] maskedDiffusion(Llama2cReferenceModel m, int[] prompt, int length, int perStep, int maskId) {
        int[] seq = Arrays.copyOf(prompt, prompt.length + length);
        Arrays.fill(seq, prompt.length, seq.length, maskId);
        denoise(m, seq, prompt.length, seq.length, perStep, maskId, AttentionSpec.FULL);
        return Arrays.copyOfRange(seq, prompt.length, seq.length);
    }

    /**
     * Block-diffusion decoding (BD3-LMs; Fast-dLLM v2): blocks of {@code blockSize} aligned to position 0, the prompt
     * filling the first ones; each block is denoised as above with Segments attention (earlier blocks committed and
     * block-causal, the current block bidirectional), then committed.
     */
    static int[] blockDiffusion(Llama2cReferenceModel m, int[] prompt, int length, int perStep, int maskId,
                                int blockSize) {
        int total = prompt.length + length;
        int[] seq = Arrays.copyOf(prompt, total);
        Arrays.fill(seq, prompt.length, total, maskId);
        int from = prompt.length;
        while (from < total) {
            int blockEnd = Math.min(total, (from / blockSize + 1) * blockSize);
            int[] sub = Arrays.copyOf(seq, blockEnd);
            int[][] seg = new int[1][blockEnd];
            for (int j = 0; j < blockEnd; j++) {
                seg[0][j] = j / blockSize;
            }
            denoise(m, sub, from, blockEnd, perStep, maskId, new AttentionSpec.Segments(seg, seg));
            System.arraycopy(sub, from, seq, from, blockEnd - from);
            from = blockEnd;
        }
        return Arrays.copyOfRange(seq, prompt.length, total);
    }

    private static void denoise(Llama2cReferenceModel m, int[] seq, int from, int to, int perStep, int maskId,
                                AttentionSpec spec) {
        while (true) {
            float[][] logits = m.forward(ForwardRequest.builder(new int[][] {seq}).attention(spec).build())
                    .logits()[0];
            int masked = 0;
            double[] conf = new double[to - from];
            int[] best = new int[to - from];
            for (int j = from; j < to; j++) {
                if (seq[j] != maskId) {
                    conf[j - from] = Double.NEGATIVE_INFINITY;
                    continue;
                }
                masked++;
                float[] row = logits[j];
                int arg = -1;
                double max = Double.NEGATIVE_INFINITY;
                for (int k = 0; k < row.length; k++) {
                    if (k != maskId && row[k] > max) {
                        max = row[k];
                        arg = k;
                    }
                }
                double sum = 0;
                for (int k = 0; k < row.length; k++) {
                    if (k != maskId) {
                        sum += Math.exp(row[k] - max);
                    }
                }
                conf[j - from] = 1 / sum;
                best[j - from] = arg;
            }
            if (masked == 0) {
                return;
            }
            for (int c = 0; c < Math.min(perStep, masked); c++) {
                int pick = 0;
                for (int j = 1; j < conf.length; j++) {
                    if (conf[j] > conf[pick]) {
                        pick = j;
                    }
                }
                seq[from + pick] = best[pick];
                conf[pick] = Double.NEGATIVE_INFINITY;
            }
        }
    }
}
