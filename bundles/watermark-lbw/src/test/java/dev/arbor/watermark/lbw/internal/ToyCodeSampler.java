package dev.arbor.watermark.lbw.internal;

import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import java.util.List;

/**
 * A toy image prior over codes: position p of the raster token map draws its code from the smoothed frequency of
 * codes at p among tokenized training images (logits {@code log(count + 1/2)}), independently of the other
 * positions. Unbiased, it yields plausible-looking token maps with the real code statistics (a blank background code
 * at the borders, varied codes in the middle); with processors (a watermark) in front of the draw it is the
 * watermarked sampler. One request = one {@link SamplingContext} seeded with the request's seed, prompt = the
 * class token, and processors see each row before the draw, as a generator runs them.
 */
final class ToyCodeSampler {
    private final float[][] logits;
    private final int promptToken;

    ToyCodeSampler(ImageTokenizer tokenizer, float[][] trainingImages) {
        int positions = tokenizer.layout().tokensPerImage();
        int codes = tokenizer.layout().codes();
        double[][] counts = new double[positions][codes];
        int side = tokenizer.layout().width();
        for (float[] image : trainingImages) {
            float[][] pixels = new float[tokenizer.layout().height()][side];
            for (int y = 0; y < pixels.length; y++) {
                System.arraycopy(image, y * side, pixels[y], 0, side);
            }
            int[] tokens = tokenizer.encodeImage(pixels);
            for (int p = 0; p < positions; p++) {
                counts[p][tokens[p]]++;
            }
        }
        logits = new float[positions][codes];
        for (int p = 0; p < positions; p++) {
            for (int c = 0; c < codes; c++) {
                logits[p][c] = (float) Math.log(counts[p][c] + 0.5);
            }
        }
        promptToken = tokenizer.layout().classToken(0);
    }

    /** The token map of request seed {@code seed}, with {@code processors} applied to every row in order. */
    int[] sample(long seed, List<LogitsProcessor> processors) {
        SamplingContext context = SamplingContext.seeded(new int[] {promptToken}, logits[0].length, seed);
        int[] out = new int[logits.length];
        for (int p = 0; p < logits.length; p++) {
            float[] row = logits[p].clone();
            for (LogitsProcessor processor : processors) {
                processor.process(row, context);
            }
            out[p] = draw(row, context.random().nextDouble());
            context.append(out[p]);
        }
        return out;
    }

    /** Inverse-CDF draw from softmax(row) with uniform u (−∞ logits have probability 0). */
    static int draw(float[] row, double u) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : row) {
            max = Math.max(max, v);
        }
        double total = 0;
        double[] weights = new double[row.length];
        for (int i = 0; i < row.length; i++) {
            weights[i] = row[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp(row[i] - max);
            total += weights[i];
        }
        double target = u * total;
        int last = -1;
        for (int i = 0; i < row.length; i++) {
            if (weights[i] > 0) {
                last = i;
                target -= weights[i];
                if (target < 0) {
                    return i;
                }
            }
        }
        return last;
    }
}
