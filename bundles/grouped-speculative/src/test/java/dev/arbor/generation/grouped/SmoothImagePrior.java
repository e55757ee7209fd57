package dev.arbor.generation.grouped;

import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.testkit.TokenHistoryBackend;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.OptionalInt;

/**
 * A toy class-conditional raster prior with image-like structure, for measuring acceptance (a hash-based toy has no
 * structure, so almost no draft is ever accepted): each class has a template, code {@code μ = p·(1+2c) mod codes} at
 * image position p, and the next code is near the template and, more weakly, near its left neighbour:
 * {@code logit(v) = sharpness·cos(2π(v − μ)/codes) + cos(2π(v − left)/codes)}. The null class (and a missing
 * class) has the template {@code μ = p} at half the sharpness, so guidance pulls towards the class. As in real
 * images, a prediction depends on its neighbour only in part, which is what lets Jacobi iterations converge faster
 * than one token per forward. Only codes get finite logits. Codes with adjacent ids are the "visually similar"
 * ones, which {@link #embeddings} expresses as points on a line 0.5 apart (squared distance 0.25 between
 * neighbours, under GSD's d_thr of 0.5).
 */
final class SmoothImagePrior extends TokenHistoryBackend {
    private final ImageLayout layout;
    private final double sharpness;
    private final ModelCard card;

    SmoothImagePrior(ImageLayout layout, double sharpness) {
        this.layout = layout;
        this.sharpness = sharpness;
        this.card = new ModelCard("smooth-image-prior", layout.vocabSize(), layout.tokensPerImage() + 2, 0,
                OptionalInt.empty(), new int[0], OptionalInt.empty(), OptionalInt.empty(), LogitAlignment.NEXT,
                NativeAttention.CAUSAL, 0, EnumSet.of(Capability.BATCH, Capability.PADDING,
                Capability.STATE_TRUNCATE, Capability.STATE_FORK, Capability.STATE_SELECT_ROWS));
    }

    /** Input embeddings: code i at (0.5·i, 0); every other id far away. */
    static float[][] embeddings(ImageLayout layout) {
        float[][] v = new float[layout.vocabSize()][];
        for (int i = 0; i < v.length; i++) {
            v[i] = new float[] {layout.isCode(i) ? 0.5f * i : 1000f + i, 0};
        }
        return v;
    }

    @Override
    public ModelCard card() {
        return card;
    }

    @Override
    protected float[] nextTokenLogits(int[] history, int length) {
        int codes = layout.codes();
        int cls = layout.classOf(history[0]);
        double sharp = cls >= 0 ? sharpness : sharpness / 2;
        int position = length - 1;
        int mu = (position * (cls >= 0 ? 1 + 2 * cls : 1)) % codes;
        int left = layout.isCode(history[length - 1]) ? history[length - 1] : codes / 2;
        float[] logits = new float[card.vocabSize()];
        Arrays.fill(logits, Float.NEGATIVE_INFINITY);
        for (int v = 0; v < codes; v++) {
            logits[v] = (float) (sharp * Math.cos(2 * Math.PI * (v - mu) / codes)
                    + Math.cos(2 * Math.PI * (v - left) / codes));
        }
        return logits;
    }
}
