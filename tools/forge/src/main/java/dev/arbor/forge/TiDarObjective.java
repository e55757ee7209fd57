package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The dual-mode objective of TiDAR (NVIDIA 2025, "TiDAR: Think in Diffusion, Talk in Autoregression",
 * arXiv:2511.08923; METHODS.md §3.10): one causal transformer learns next-token prediction and one-step block
 * drafting in the same forward, so that at inference one forward verifies the previous drafts autoregressively and
 * pre-drafts the next ones from MASK blocks ({@code dev.arbor.generation.tidar.TiDarGenerator}).
 *
 * <p><b>Training sequence</b> for a window {@code x_0..x_L} (L = seq_len): the input is {@code [x_0..x_{L-1} ;
 * MASK x L]} (2L tokens), both halves at positions {@code 0..L-1}.
 * <ul>
 *   <li>Clean half, row j: causal attention over the clean half, target {@code x_{j+1}} (the AR loss).</li>
 *   <li>Masked half, cut into blocks of {@code blockSize} (the draft length k): a MASK row at position q in the
 *       block starting at s sees the clean tokens at positions {@code < s} and every MASK of its own block
 *       (bidirectionally), nothing else; its target is {@code x_{q+1}} (the diffusion loss).</li>
 * </ul>
 * The loss is the sum of the two mean cross-entropies (AR over L rows, diffusion over the L - 1 scored MASK rows).
 *
 * <p><b>Why this layout.</b> At inference the block for "a drafts accepted" holds k MASKs at positions
 * {@code n+a .. n+a+k-1} and sees the committed prefix and the accepted drafts, i.e. every position below its first
 * MASK; the first MASK occupies the slot of the token the AR rows will emit at this step (not yet known to the
 * block), and MASK row i predicts the token after its own position, which is exactly the i-th draft of the next
 * step. Training shows the model the same visibility and the same targets, with every row predicting the next
 * position as the AR head does, so one output head serves both roles.
 *
 * <p><b>[unverified] against the paper</b> (only its abstract and an unofficial re-implementation were available):
 * (1) that the diffusion half is fully masked (no partially noised blocks), (2) the next-position (shifted) targets
 * of MASK rows, (3) blocks aligned at multiples of the draft length, (4) equal weights of the two losses (the paper
 * may weight the AR loss), (5) a fresh MASK id shared with the forge's diffusion models (BpeTrainer's MASK).
 */
public final class TiDarObjective implements TrainingObjective {
    /** The recipe's objective kind. */
    public static final String KIND = "tidar";

    /** Which rows a loss scores: both halves (training), or one of them (the held-out figures of the card). */
    public enum Part {
        BOTH, AUTOREGRESSIVE, DRAFT
    }

    private final int maskId;
    private final int blockSize;
    private final Part part;

    public TiDarObjective(int maskId, int blockSize) {
        this(maskId, blockSize, Part.BOTH);
    }

    public TiDarObjective(int maskId, int blockSize, Part part) {
        if (blockSize < 1) {
            throw new IllegalArgumentException("block size (draft length) must be at least 1, got " + blockSize);
        }
        this.maskId = maskId;
        this.blockSize = blockSize;
        this.part = part;
    }

    /** This objective scoring only {@code p} (held-out losses per role). */
    public TiDarObjective scoring(Part p) {
        return new TiDarObjective(maskId, blockSize, p);
    }

    @Override
    public int windowLength(int seqLen) {
        return seqLen + 1;
    }

    @Override
    public Batch batch(int[][] windows, SplittableRandom rng) {
        int b = windows.length;
        int l = windows[0].length - 1;
        int[][] in = new int[b][2 * l];
        int[][] pos = new int[b][2 * l];
        int[][] tgt = new int[b][2 * l];
        float[][] w = new float[b][2 * l];
        float arWeight = part == Part.DRAFT ? 0f : 1f / l;
        // The last MASK row would predict x_{L+1}, outside the window: it is not scored.
        float draftWeight = part == Part.AUTOREGRESSIVE ? 0f : 1f / (l - 1);
        for (int r = 0; r < b; r++) {
            System.arraycopy(windows[r], 0, in[r], 0, l);
            Arrays.fill(in[r], l, 2 * l, maskId);
            for (int j = 0; j < l; j++) {
                pos[r][j] = j;
                pos[r][l + j] = j;
                tgt[r][j] = windows[r][j + 1];
                w[r][j] = arWeight;
                tgt[r][l + j] = windows[r][j + 1];
                w[r][l + j] = j + 1 < l ? draftWeight : 0f;
            }
        }
        // Weights already average each half; the normalizer sums over the batch.
        return new Batch(in, pos, tgt, w, 2 * l, b);
    }

    @Override
    public NDArray bias(NDManager scope, int inputLength) {
        int l = inputLength / 2;
        return LlamaNet.bias(scope, inputLength, (q, k) -> visible(q, k, l, blockSize));
    }

    /**
     * The training mask over {@code [clean (L) ; MASK blocks (L)]}: clean rows are causal over the clean half; a MASK
     * row sees the clean tokens before its block's first position and its own block. The inference mask of
     * {@code TiDarGenerator} gives each block the same visibility.
     */
    static boolean visible(int q, int k, int l, int blockSize) {
        boolean qClean = q < l;
        boolean kClean = k < l;
        if (qClean) {
            return kClean && k <= q;
        }
        int blockStart = (q - l) / blockSize * blockSize;
        if (kClean) {
            return k < blockStart;
        }
        return (k - l) / blockSize * blockSize == blockStart;
    }
}
