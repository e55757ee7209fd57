package dev.arbor.generation.distilled;

import dev.arbor.api.image.ImageLayout;

/**
 * The input of a Distilled Decoding student (the forge trains on it, {@link DistilledDecodingGenerator} builds it):
 * {@code 1 + n} positions ({@code n} = the layout's tokens per image), each a weighted sum of rows of the student's
 * own embedding table {@code E}, so the exported llama2.c file is all a backend needs.
 * <ul>
 *   <li>position 0: {@code E[class]}, plus {@code E[level 0]} when {@code split > 0} — the step token that tells the
 *       student it is refining (DD's timestep {@code t}; the value of {@code t} itself is visible in which positions
 *       carry codes);</li>
 *   <li>position {@code 1+i}, {@code i < split}: {@code E[code_i]} (DD's {@code perturb_data}: the tokens of the
 *       previous step before the split are kept);</li>
 *   <li>position {@code 1+i}, {@code i >= split}: {@code Σ_j ε_{i,j}·E[basis j]} over the layout's
 *       {@code featureDim} feature-basis ids (the noise the teacher flow map turned into token {@code i}).</li>
 * </ul>
 * The student's logits row {@code 1+i} is token {@code i}'s (alignment SAME, codes only); attention is full.
 */
public final class StudentInput {
    private StudentInput() {
    }

    /** One position's input: the weighted embedding rows {@code Σ weights[k]·E[ids[k]]}. */
    public record Mixture(int[] ids, float[] weights) {
    }

    /**
     * The {@code 1 + n} positions of one image: class {@code cls}, the first {@code split} entries of {@code codes}
     * kept, noise {@code eps} ([n·featureDim], token-major) at and after the split.
     */
    public static Mixture[] of(ImageLayout layout, int cls, int[] codes, int split, float[] eps) {
        int n = layout.tokensPerImage();
        int d = layout.featureDim();
        if (split < 0 || split >= n) {
            throw new IllegalArgumentException("split " + split + " must be in [0, " + n + ")");
        }
        if (eps.length != n * d) {
            throw new IllegalArgumentException("noise has " + eps.length + " values, the image needs " + n + " x "
                    + d);
        }
        if (split > 0 && codes.length < split) {
            throw new IllegalArgumentException("split " + split + " needs that many kept codes, got " + codes.length);
        }
        Mixture[] m = new Mixture[1 + n];
        m[0] = split == 0 ? new Mixture(new int[] {layout.classToken(cls)}, new float[] {1f})
                : new Mixture(new int[] {layout.classToken(cls), layout.levelToken(0)}, new float[] {1f, 1f});
        int[] basis = new int[d];
        for (int j = 0; j < d; j++) {
            basis[j] = layout.featureBasisToken(j);
        }
        for (int i = 0; i < n; i++) {
            if (i < split) {
                if (codes[i] < 0 || codes[i] >= layout.codes()) {
                    throw new IllegalArgumentException("kept token " + i + " = " + codes[i] + " is not a code");
                }
                m[1 + i] = new Mixture(new int[] {codes[i]}, new float[] {1f});
            } else {
                float[] w = new float[d];
                System.arraycopy(eps, i * d, w, 0, d);
                m[1 + i] = new Mixture(basis, w);
            }
        }
        return m;
    }
}
