package dev.arbor.models.images;

import java.util.function.UnaryOperator;
import java.util.stream.IntStream;

/** Reconstruction error over a set of images with pixels in [0,1]: per-pixel MSE over all images, and PSNR from it. */
public final class ReconstructionQuality {
    private ReconstructionQuality() {
    }

    /** Mean of (x − reconstruct(x))² over every pixel of every image (computed in parallel, summed in image order). */
    public static double mse(float[][] images, UnaryOperator<float[]> reconstruct) {
        double[] perImage = new double[images.length];
        IntStream.range(0, images.length).parallel().forEach(i -> {
            float[] x = images[i];
            float[] y = reconstruct.apply(x);
            double s = 0;
            for (int p = 0; p < x.length; p++) {
                double d = x[p] - y[p];
                s += d * d;
            }
            perImage[i] = s;
        });
        double total = 0;
        for (double s : perImage) total += s;
        return total / ((double) images.length * FashionMnist.PIXELS);
    }

    /** PSNR in dB for pixel range [0,1]: 10·log10(1 / mse). */
    public static double psnr(double mse) {
        return 10 * Math.log10(1 / mse);
    }

    /** The trivial baseline: every 4x4 patch replaced by its mean pixel (49 real numbers per image, no codebook). */
    public static float[] patchMeans(float[] image) {
        float[] f = PatchGrid.toFeatures(image);
        for (int cell = 0; cell < PatchGrid.CELLS; cell++) {
            int o = cell * PatchGrid.DIM;
            float s = 0;
            for (int d = 0; d < PatchGrid.DIM; d++) s += f[o + d];
            java.util.Arrays.fill(f, o, o + PatchGrid.DIM, s / PatchGrid.DIM);
        }
        return PatchGrid.toImage(f);
    }
}
