package dev.arbor.blockgen;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The sequence of a group-parallel image prior with learned query tokens (Next Block Prediction, Ren et al. 2025;
 * DetailFlow's group-parallel decoding): N image tokens, the first {@code c} decoded one by one, then groups of
 * {@code G} decoded one group per forward. Immutable.
 *
 * <p><b>Positions</b> ({@code 0..N-1}): 0 the class token; {@code 1..c} the image tokens {@code t_0..t_{c-1}};
 * {@code c+1..c+G-1} the learned query tokens {@code q_1..q_{G-1}} ({@link #queryToken}: ids after the image
 * layout's, so the prior's vocabulary is {@code layout.vocabSize() + G - 1}); {@code c+G+k} the token
 * {@code t_{c+k}}. <b>Targets</b>: row {@code p} predicts image token {@code t_p} — for {@code p <= c} the next
 * token, for {@code p >= c} the token at position {@code p + G} (the same slot of the next group).
 * <b>Segments</b> ({@code AttentionSpec.Segments}: a query sees a key iff the key's segment is not later):
 * {@code p} for {@code p < c}, {@code c + (p - c) / G} after — causal over the first c positions, bidirectional
 * inside a group, causal across groups. With {@code G = 1} there are no queries and the mask is causal: raster
 * decoding exactly.
 *
 * <p><b>Steps</b>: the decode is {@link #forwards()} forwards; step {@code s} feeds positions {@code [from, to)}
 * ({@link Step}) and samples image tokens {@code from..to-1} from their rows: {@code [0,1)} (the class token),
 * {@code [1,2) .. [c-1,c)} (one token each), then {@code [c, c+G), [c+G, c+2G), ..}. Every position is fed once, so
 * a KV state appends group by group and the prior needs a context of N positions.
 */
public final class GroupLayout {
    private final ImageLayout image;
    private final int groupSize;
    private final int causalNum;

    private GroupLayout(ImageLayout image, int groupSize, int causalNum) {
        this.image = image;
        this.groupSize = groupSize;
        this.causalNum = causalNum;
    }

    /** One decode step: positions {@code [from, to)} are fed and image tokens {@code from..to-1} sampled. */
    public record Step(int index, int from, int to) {
        /** Positions fed (= tokens sampled) by this step. */
        public int size() {
            return to - from;
        }
    }

    /**
     * The layout of {@code image}'s N tokens in groups of {@code groupSize} after {@code causalNum} single tokens.
     *
     * @throws ArborException INVALID_INPUT naming the options {@code block_size} and {@code causal_num} and the
     *                        values that would be accepted
     */
    public static GroupLayout of(ImageLayout image, int groupSize, int causalNum) {
        int n = image.tokensPerImage();
        if (groupSize < 1 || groupSize > n) {
            throw ArborException.invalid("block_size must be between 1 and the image's " + n + " tokens, got "
                    + groupSize);
        }
        if (causalNum < 1 || causalNum > n) {
            throw ArborException.invalid("causal_num must be between 1 and the image's " + n + " tokens, got "
                    + causalNum);
        }
        if ((n - causalNum) % groupSize != 0) {
            int fitting = causalNum + (n - causalNum) % groupSize; // the next causal_num that tiles the image
            throw ArborException.invalid("the " + (n - causalNum) + " tokens after causal_num " + causalNum
                    + " do not split into groups of block_size " + groupSize + " (an image has " + n + " tokens); "
                    + "set causal_num so that " + n + " - causal_num is a multiple of " + groupSize
                    + ", e.g. " + fitting + " (use the value the prior was trained with: its card's causal_num)");
        }
        return new GroupLayout(image, groupSize, causalNum);
    }

    public ImageLayout image() {
        return image;
    }

    /** G: tokens per group ({@code block_size}). */
    public int groupSize() {
        return groupSize;
    }

    /** c: tokens decoded one by one before the groups ({@code causal_num}). */
    public int causalNum() {
        return causalNum;
    }

    /** N: image tokens (= positions of the sequence). */
    public int tokens() {
        return image.tokensPerImage();
    }

    /** The prior's vocabulary: the image layout's ids and the {@code G - 1} query ids. */
    public int vocabSize() {
        return image.vocabSize() + groupSize - 1;
    }

    /** The id of query token {@code q_j}, {@code 1 <= j < G}. */
    public int queryToken(int j) {
        if (j < 1 || j >= groupSize) {
            throw new IllegalArgumentException("query tokens are q_1..q_" + (groupSize - 1) + ", got q_" + j);
        }
        return image.vocabSize() + j - 1;
    }

    /** Forwards of one image: the class token, {@code c - 1} single tokens, {@code (N - c) / G} groups. */
    public int forwards() {
        return causalNum + (tokens() - causalNum) / groupSize;
    }

    /** The segment of position {@code p}. */
    public int segment(int p) {
        checkPosition(p);
        return p < causalNum ? p : causalNum + (p - causalNum) / groupSize;
    }

    /** Segments of positions {@code 0..N-1}. */
    public int[] segments() {
        int[] s = new int[tokens()];
        for (int p = 0; p < s.length; p++) {
            s[p] = segment(p);
        }
        return s;
    }

    /** The image token row {@code p} predicts: {@code t_p}, for every position. */
    public int target(int p) {
        checkPosition(p);
        return p;
    }

    /**
     * The input id at position {@code p} for {@code condition} (class or null class) and the image's tokens so far
     * (a position reads at most {@code t_{p-1}} in the causal start and {@code t_{p-G}} after).
     */
    public int input(int p, int condition, int[] image) {
        checkPosition(p);
        if (p == 0) {
            return condition;
        }
        if (p <= causalNum) {
            return image[p - 1];
        }
        if (p < causalNum + groupSize) {
            return queryToken(p - causalNum);
        }
        return image[p - groupSize];
    }

    /** The inputs of positions {@code [from, to)}. */
    public int[] inputs(int from, int to, int condition, int[] image) {
        int[] in = new int[to - from];
        for (int p = from; p < to; p++) {
            in[p - from] = input(p, condition, image);
        }
        return in;
    }

    /** The decode steps in order. */
    public List<Step> steps() {
        List<Step> steps = new ArrayList<>(forwards());
        for (int p = 0; p < causalNum; p++) {
            steps.add(new Step(steps.size(), p, p + 1));
        }
        for (int p = causalNum; p < tokens(); p += groupSize) {
            steps.add(new Step(steps.size(), p, p + groupSize));
        }
        return List.copyOf(steps);
    }

    /**
     * The Segments of a step for {@code batch} identical rows: its positions' segments as queries, positions
     * {@code 0..to-1} as keys (the state's slots and the step's own).
     */
    public dev.arbor.api.model.AttentionSpec.Segments attention(Step step, int batch) {
        int[] all = segments();
        int[] query = Arrays.copyOfRange(all, step.from(), step.to());
        int[] keys = Arrays.copyOf(all, step.to());
        int[][] q = new int[batch][];
        int[][] k = new int[batch][];
        for (int b = 0; b < batch; b++) {
            q[b] = query.clone();
            k[b] = keys.clone();
        }
        return new dev.arbor.api.model.AttentionSpec.Segments(q, k);
    }

    /**
     * Checks that {@code card} is a prior of this layout for {@code generator} (its name in messages): vocabulary
     * exactly {@link #vocabSize()}, alignment NEXT, attention CAUSAL when {@code G = 1} (a raster prior) else
     * BLOCK_CAUSAL with block size G on a backend listing SEGMENT_MASK, and a context of N positions.
     *
     * @throws ArborException INCOMPATIBLE naming the cause and the fix
     */
    public void checkModel(ModelCard card, String generator) {
        String name = card.name();
        if (card.vocabSize() != vocabSize()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, name + " has " + card.vocabSize()
                    + " logits per row, but " + generator + " with block_size " + groupSize + " needs exactly "
                    + vocabSize() + " (the image layout's " + image.vocabSize() + " ids and " + (groupSize - 1)
                    + " learned query tokens)" + hint(card));
        }
        if (card.alignment() != LogitAlignment.NEXT) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, generator + " needs a prior whose row p "
                    + "predicts image token p (card alignment NEXT), but " + name + " is " + card.alignment());
        }
        NativeAttention attention = card.nativeAttention();
        boolean ok = attention == NativeAttention.BLOCK_CAUSAL ? card.blockSize() == groupSize
                : attention == NativeAttention.CAUSAL && groupSize == 1;
        if (!ok) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, generator + " with block_size " + groupSize
                    + " needs a prior trained " + (groupSize == 1 ? "causally (attention CAUSAL, or BLOCK_CAUSAL "
                    + "with block_size 1)" : "with groups of " + groupSize + " (attention BLOCK_CAUSAL, block_size "
                    + groupSize + ")") + ", but " + name + " is " + attention
                    + (attention == NativeAttention.BLOCK_CAUSAL ? " with block_size " + card.blockSize() : "")
                    + hint(card));
        }
        if (groupSize > 1 && !card.supports(Capability.SEGMENT_MASK)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, generator + " needs Capability.SEGMENT_MASK "
                    + "(the in-group bidirectional mask), but the backend running " + name + " does not list it; "
                    + "run the prior on a backend that does (onnxruntime's reference graph, djl)");
        }
        if (card.maxPositions() < tokens()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, name + "'s context of " + card.maxPositions()
                    + " positions cannot hold the " + tokens() + " positions of an image (class token, image "
                    + "tokens and query tokens)");
        }
    }

    private static String hint(ModelCard card) {
        if (card.nativeAttention() == NativeAttention.BLOCK_CAUSAL) {
            return "; set block_size " + card.blockSize() + ", the group size on " + card.name() + "'s card";
        }
        if (card.nativeAttention() == NativeAttention.CAUSAL) {
            return "; " + card.name() + " is a causal (raster) prior: set block_size 1";
        }
        return "";
    }

    private void checkPosition(int p) {
        if (p < 0 || p >= tokens()) {
            throw new IndexOutOfBoundsException("position " + p + " of " + tokens());
        }
    }

    @Override
    public String toString() {
        return "GroupLayout[N=" + tokens() + ", G=" + groupSize + ", c=" + causalNum + ", forwards=" + forwards()
                + "]";
    }
}
