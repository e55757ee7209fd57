package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.models.images.CoarseToFineImageTokenizer;
import dev.arbor.models.images.CoarseToFineVq;
import dev.arbor.models.images.VqImageTokenizer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A group-parallel class-conditional image prior with learned query tokens (objective {@code image-group-parallel};
 * the training side of Next Block Prediction, Ren et al. 2025, "Next Block Prediction: Video Generation via
 * Semi-Autoregressive Modeling", and of DetailFlow's group-parallel next-detail decoding): the first {@code c}
 * image tokens are predicted one by one, then groups of {@code G} tokens are each predicted by one forward, every row
 * of a group predicting the same slot of the next group. Generic over the image tokenizer of the recipe (any
 * {@link ImageTokenizer} layout of N tokens with {@code (N - c) % G == 0}).
 *
 * <p><b>Sequence</b> (N positions, teacher-forced): position 0 the class token (the null class with probability
 * {@code condDropout}: classifier-free guidance); positions {@code 1..c} the image tokens {@code t_0..t_{c-1}};
 * positions {@code c+1..c+G-1} the learned query tokens {@code q_1..q_{G-1}} (ids after the image layout:
 * {@code q_j = layout.vocabSize() + j - 1}, so the prior's vocabulary is {@code layout.vocabSize() + G - 1});
 * position {@code c+G+k} the token {@code t_{c+k}}. Row {@code p} predicts image token {@code t_p} (for
 * {@code p <= c} the next token, for {@code p >= c} the token at position {@code p + G}, the same slot of the next
 * group), so the loss covers all N image tokens. Attention: segment {@code p} for {@code p < c}, segment
 * {@code c + (p - c) / G} after, a query seeing a key iff its segment is not later (the backends'
 * {@code AttentionSpec.Segments}): causal over the first c positions, bidirectional inside a group and causal across
 * groups (NBP's block-causal mask). With {@code G = 1} there are no queries and this is exactly
 * {@link RasterImageObjective}.
 *
 * <p>The decoding side is {@code dev.arbor.blockgen.GroupLayout} in bundles/next-block (the same arithmetic; the
 * forge is a plain jar and does not depend on bundles).
 */
public final class GroupParallelImageObjective implements TrainingObjective {
    /** The recipe's objective kind. */
    public static final String KIND = "image-group-parallel";

    private final ImageLayout layout;
    private final int groupSize;
    private final int causalNum;
    private final double condDropout;
    private final int[] segment;

    /**
     * The objective over {@code layout}'s N tokens in groups of {@code groupSize} after {@code causalNum} tokens
     * decoded one by one.
     *
     * @throws ArborException (INVALID_INPUT) naming the fix when the numbers do not tile the image
     */
    public GroupParallelImageObjective(ImageLayout layout, int groupSize, int causalNum, double condDropout) {
        int n = layout.tokensPerImage();
        if (groupSize < 1 || causalNum < 1 || causalNum > n || (n - causalNum) % groupSize != 0) {
            throw ArborException.invalid(KIND + " needs group_size >= 1 and 1 <= causal_num <= " + n
                    + " with (" + n + " - causal_num) divisible by group_size (an image of " + n + " tokens), got "
                    + "group_size " + groupSize + ", causal_num " + causalNum + "; e.g. causal_num = group_size = "
                    + "one token row");
        }
        this.layout = layout;
        this.groupSize = groupSize;
        this.causalNum = causalNum;
        this.condDropout = condDropout;
        this.segment = new int[n];
        for (int p = 0; p < n; p++) {
            segment[p] = p < causalNum ? p : causalNum + (p - causalNum) / groupSize;
        }
    }

    /** The recipe's setup: its tokenizer (read by {@link #readTokenizer}), layout and this objective. */
    static ImagePriors.Setup setup(Recipe r, Path file) {
        ImageTokenizer tok = readTokenizer(file);
        ImageLayout layout = tok.layout();
        GroupParallelImageObjective o = new GroupParallelImageObjective(layout, r.objective().groupSize(),
                r.objective().causalNum(), r.image().condDropout());
        return new ImagePriors.Setup(layout, px -> tok.encodeImage(square(px, layout)),
                tokens -> flat(tok.decodeImage(tokens)), o, o.conditional(), null, file, KIND);
    }

    /**
     * The image tokenizer of a recipe's file: Arbor's VQ files ({@link VqImageTokenizer}: patch VQ or multi-scale
     * VQ); a tokenizer of another format adds its reader here.
     */
    static ImageTokenizer readTokenizer(Path file) {
        if (CoarseToFineVq.isCoarseToFineFile(file)) { // DetailFlow's 1D coarse-to-fine tokens (format image-1d)
            return CoarseToFineImageTokenizer.read(file, VqImageTokenizer.FASHION_CLASSES);
        }
        return VqImageTokenizer.read(file, VqImageTokenizer.FASHION_CLASSES);
    }

    private static float[][] square(float[] px, ImageLayout layout) {
        float[][] out = new float[layout.height()][layout.width()];
        for (int y = 0; y < out.length; y++) {
            System.arraycopy(px, y * layout.width(), out[y], 0, layout.width());
        }
        return out;
    }

    private static float[] flat(float[][] img) {
        int w = img[0].length;
        float[] out = new float[img.length * w];
        for (int y = 0; y < img.length; y++) {
            System.arraycopy(img[y], 0, out, y * w, w);
        }
        return out;
    }

    /** The same objective without condition dropout (held-out loss of the conditional model). */
    public GroupParallelImageObjective conditional() {
        return new GroupParallelImageObjective(layout, groupSize, causalNum, 0);
    }

    public ImageLayout layout() {
        return layout;
    }

    public int groupSize() {
        return groupSize;
    }

    public int causalNum() {
        return causalNum;
    }

    /** The prior's vocabulary: the layout's ids and the {@code G - 1} query ids. */
    public int vocabSize() {
        return layout.vocabSize() + groupSize - 1;
    }

    /** The id of query token {@code q_j}, {@code 1 <= j < G}. */
    public int queryToken(int j) {
        return layout.vocabSize() + j - 1;
    }

    /** Positions of the sequence (= N, one per image token predicted). */
    public int positions() {
        return layout.tokensPerImage();
    }

    /** Forwards of a decode: the class token, c − 1 single tokens, then one per group. */
    public int forwards() {
        return causalNum + (layout.tokensPerImage() - causalNum) / groupSize;
    }

    /**
     * The input ids of positions {@code 0..N-1} for {@code condition} (a class or the null class) and the image's
     * tokens; only the tokens an input position holds are read ({@code t_0..t_{N-G-1}}).
     */
    public int[] inputs(int condition, int[] image) {
        int n = layout.tokensPerImage();
        int[] in = new int[n];
        in[0] = condition;
        for (int p = 1; p < n; p++) {
            if (p <= causalNum) {
                in[p] = image[p - 1];
            } else if (p < causalNum + groupSize) {
                in[p] = queryToken(p - causalNum);
            } else {
                in[p] = image[p - groupSize];
            }
        }
        return in;
    }

    /** Segment ids of positions {@code 0..N-1} (the Segments mask of the backends). */
    public int[] segments() {
        return segment.clone();
    }

    /**
     * The decode steps as {@code [from, to)} position ranges: a forward over positions {@code 0..to-1} samples
     * image tokens {@code from..to-1} from rows {@code from..to-1}.
     */
    public int[][] steps() {
        int[][] steps = new int[forwards()][];
        int s = 0;
        for (int p = 0; p < causalNum; p++) {
            steps[s++] = new int[] {p, p + 1};
        }
        for (int p = causalNum; p < layout.tokensPerImage(); p += groupSize) {
            steps[s++] = new int[] {p, p + groupSize};
        }
        return steps;
    }

    @Override
    public int windowLength(int seqLen) {
        return 1 + layout.tokensPerImage();
    }

    @Override
    public Batch batch(int[][] windows, SplittableRandom rng) {
        int b = windows.length;
        int n = layout.tokensPerImage();
        int[][] in = new int[b][];
        int[][] tgt = new int[b][];
        float[][] w = new float[b][n];
        for (int r = 0; r < b; r++) {
            int[] image = Arrays.copyOfRange(windows[r], 1, n + 1);
            // drawn for every row, so the data order does not depend on the dropout rate
            double u = rng.nextDouble();
            in[r] = inputs(u < condDropout ? layout.nullClassToken() : windows[r][0], image);
            tgt[r] = image;
            Arrays.fill(w[r], 1f);
        }
        return new Batch(in, TrainingObjective.sequentialPositions(b, n), tgt, w, n, (double) b * n);
    }

    @Override
    public NDArray bias(NDManager scope, int t) {
        return LlamaNet.bias(scope, t, (q, k) -> segment[k] <= segment[q]);
    }
}
