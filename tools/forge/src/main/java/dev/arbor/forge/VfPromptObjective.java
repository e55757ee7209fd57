package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.models.images.MultiScaleVq;
import dev.arbor.models.images.PatchVqTokenizer;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * A raster-order prior trained with a Vision Full-view prompt ("Autoregressive Image Generation with Vision
 * Full-view Prompt", 2025; METHODS §3.18): before its raster tokens the model first generates a few tokens that see
 * the whole image at once, then the local detail conditioned on them. The paper's exact prompt content is unpublished
 * [unverified]; the form implemented here is a coarse full view of the same image: the first {@code vfScales} scales
 * of the multi-scale residual VQ (VAR's tokenizer, {@link MultiScaleVq}: scales 1 and 2 give 1 + 4 = 5 tokens, a
 * 1x1 and a 2x2 residual map), written as VF ids {@code vfOffset + code} after the patch-VQ layout's ids, so the
 * vocabulary is {@code layout.vocabSize() + vfCodes}. A window is one image:
 * {@code [class, vf_1 .. vf_V, code_0 .. code_{n-1}]}; causal attention, row i predicts token i+1 (alignment NEXT),
 * as {@link RasterImageObjective}. With probability {@code condDropout} the class token becomes the null class and
 * the VF tokens stay, so the unconditional half of classifier-free guidance also sees (and predicts) its own VF
 * tokens.
 * <p>
 * {@link Part} picks the scored targets: all of them for training; the image codes or the VF tokens alone for the
 * held-out figures (the image part is comparable to a plain raster prior's loss over the same 49 codes).
 */
public final class VfPromptObjective implements TrainingObjective {
    /** Which targets a batch scores. */
    public enum Part { ALL, IMAGE, VF }

    private final ImageLayout layout;
    private final int vfTokens;
    private final int vfCodes;
    private final double condDropout;
    private final Part part;

    /**
     * Over the raster {@code layout} (one scale) with {@code vfTokens} VF tokens drawn from {@code vfCodes} codes;
     * class dropout rate {@code condDropout}; scoring {@code part}.
     */
    public VfPromptObjective(ImageLayout layout, int vfTokens, int vfCodes, double condDropout, Part part) {
        if (layout.scaleCount() != 1) {
            throw new IllegalArgumentException("a VF-prompt prior needs a single-scale raster layout, got " + layout);
        }
        if (vfTokens < 1 || vfCodes < 1) {
            throw new IllegalArgumentException("a VF-prompt prior needs VF tokens and codes, got " + vfTokens + ", "
                    + vfCodes);
        }
        this.layout = layout;
        this.vfTokens = vfTokens;
        this.vfCodes = vfCodes;
        this.condDropout = condDropout;
        this.part = part;
    }

    /** The same objective without condition dropout, scoring {@code p} (held-out figures of the conditional model). */
    public VfPromptObjective conditional(Part p) {
        return new VfPromptObjective(layout, vfTokens, vfCodes, 0, p);
    }

    /** VF tokens per image. */
    public int vfTokens() {
        return vfTokens;
    }

    /** The first VF id: VF code c is id {@code vfOffset() + c}. */
    public int vfOffset() {
        return layout.vocabSize();
    }

    /** Number of VF codes (the multi-scale tokenizer's codebook). */
    public int vfCodes() {
        return vfCodes;
    }

    /** The prior's vocabulary: the raster layout's ids, then the VF ids. */
    public int vocabSize() {
        return layout.vocabSize() + vfCodes;
    }

    /** Tokens after the class token: the VF tokens, then the image's codes. */
    public int sequenceTokens() {
        return vfTokens + layout.tokensPerImage();
    }

    /**
     * The encoder of a window's tokens: the first {@code vfTokens} tokens of {@code full}'s encoding as VF ids
     * (offset by {@code vfOffset}), then {@code patch}'s codes of the same image.
     */
    public static Function<float[], int[]> encoder(PatchVqTokenizer patch, MultiScaleVq full, int vfTokens,
                                                   int vfOffset) {
        return image -> {
            int[] coarse = full.encode(image);
            int[] codes = patch.encode(image);
            int[] out = new int[vfTokens + codes.length];
            for (int i = 0; i < vfTokens; i++) {
                out[i] = vfOffset + coarse[i];
            }
            System.arraycopy(codes, 0, out, vfTokens, codes.length);
            return out;
        };
    }

    @Override
    public int windowLength(int seqLen) {
        return 1 + sequenceTokens();
    }

    @Override
    public Batch batch(int[][] windows, SplittableRandom rng) {
        int b = windows.length;
        int t = sequenceTokens();
        int[][] in = new int[b][];
        int[][] tgt = new int[b][];
        float[][] w = new float[b][t];
        // target j is sequence token j + 1: targets 0..V-1 are the VF tokens, the rest the image's codes
        int from = part == Part.IMAGE ? vfTokens : 0;
        int to = part == Part.VF ? vfTokens : t;
        for (int r = 0; r < b; r++) {
            in[r] = Arrays.copyOfRange(windows[r], 0, t);
            double u = rng.nextDouble(); // drawn for every row, so the data order does not depend on the rate
            if (u < condDropout) {
                in[r][0] = layout.nullClassToken();
            }
            tgt[r] = Arrays.copyOfRange(windows[r], 1, t + 1);
            Arrays.fill(w[r], from, to, 1f);
        }
        return new Batch(in, TrainingObjective.sequentialPositions(b, t), tgt, w, t, (double) b * (to - from));
    }

    @Override
    public NDArray bias(NDManager scope, int t) {
        return LlamaNet.bias(scope, t, (q, k) -> k <= q);
    }

    /** The card's {@code vf} facts: count, id offset and tokenizer of the VF tokens. */
    ObjectNode cardFacts(String tokenizer, String sha256, int scales) {
        ObjectNode vf = Json.MAPPER.createObjectNode();
        vf.put("tokens", vfTokens);
        vf.put("offset", vfOffset());
        vf.put("codes", vfCodes);
        vf.put("tokenizer", tokenizer);
        vf.put("tokenizer_sha256", sha256);
        vf.put("scales", scales);
        vf.put("content", "the first " + scales + " scales of the multi-scale residual VQ of the same image (a "
                + "coarse full view), VF id = offset + code, generated after the class token and before the "
                + "raster codes; stripped before decoding");
        return vf;
    }
}
