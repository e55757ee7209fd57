package dev.arbor.models.images;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Trains the Fashion-MNIST patch PCA codec ({@link PatchPcaCodec}) on training patches with a fixed seed, measures
 * its round trip on the 10,000 test images and writes {@code fashion-patch-pca.bin} plus its section of
 * {@code MODEL_CARD.md} (between markers, replaced when present) in the output folder. Usage:
 * {@code TrainPatchPca [OUT_DIR [SEED]]} (defaults {@code models/trained/fashion-vq}, 20261207).
 */
public final class TrainPatchPca {
    public static final String FILE = "fashion-patch-pca.bin";
    static final int SAMPLES = 200_000;
    static final float VALUE_RANGE = 3f;
    /** The |value| quantile mapped to the range: 0.9999 leaves about 1 value in 10,000 clamped. */
    static final double QUANTILE = 0.9999;
    private static final String BEGIN = "<!-- patch-pca begin -->";
    private static final String END = "<!-- patch-pca end -->";

    private TrainPatchPca() {
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : "models/trained/fashion-vq");
        long seed = args.length > 1 ? Long.parseLong(args[1]) : TrainFashionTokenizers.DEFAULT_SEED;
        FashionMnist train = FashionMnist.load(FashionMnist.Split.TRAIN);
        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        PatchPcaCodec trained = PatchPcaCodec.train(train.images(), SAMPLES, seed, VALUE_RANGE, QUANTILE,
                VqImageTokenizer.FASHION_CLASSES);
        trained.write(out.resolve(FILE));
        PatchPcaCodec c = PatchPcaCodec.read(out.resolve(FILE), VqImageTokenizer.FASHION_CLASSES);

        double exact = ReconstructionQuality.mse(test.images(), x -> flat(c.decodeLatents(c.encodeLatents(grid(x)))));
        double wire = ReconstructionQuality.mse(test.images(), x -> flat(c.decodeImage(c.encodeImage(grid(x)))));
        double[] firstK = new double[] {1, 2, 4, 8};
        StringBuilder prefix = new StringBuilder();
        for (double k : firstK) {
            int keep = (int) k;
            double mse = ReconstructionQuality.mse(test.images(), x -> {
                float[][] z = c.encodeLatents(grid(x));
                for (float[] v : z) java.util.Arrays.fill(v, keep, v.length, 0f);
                return flat(c.decodeLatents(z));
            });
            prefix.append(String.format(Locale.ROOT, "| first %d of 16 values | %.6f | %.2f |%n", keep, mse,
                    ReconstructionQuality.psnr(mse)));
        }
        long clamped = 0;
        long values = 0;
        double[] var = new double[PatchPcaCodec.DIM];
        for (float[] x : test.images()) {
            for (float[] v : c.encodeLatents(grid(x))) {
                for (int d = 0; d < v.length; d++) {
                    values++;
                    var[d] += v[d] * v[d];
                    if (Math.abs(v[d]) > VALUE_RANGE) clamped++;
                }
            }
        }
        StringBuilder sd = new StringBuilder();
        for (int d = 0; d < var.length; d++) {
            sd.append(d == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.3f",
                    Math.sqrt(var[d] / (values / var.length))));
        }
        String section = BEGIN + "\n## Patch PCA codec (`" + FILE + "`, continuous latents)\n\n"
                + "`PatchPcaCodec` (format `image-latent`): each 4x4 patch -> the 16 coordinates `s·B·(patch − mean)` of"
                + " the full PCA of\n" + String.format(Locale.ROOT, "%,d", SAMPLES) + " training patches (Jacobi"
                + " eigen-decomposition, components by decreasing variance), one global factor\n"
                + String.format(Locale.ROOT, "s = %.4f mapping the %.2f %% quantile of |value| to the wire range ±%.0f",
                c.scale(), QUANTILE * 100, VALUE_RANGE) + "; 49 latent tokens of 16 values per image.\n"
                + "Wire form: one id per value, 256 levels over [−3, 3] (784 ids per image; layout codes 256, scales"
                + " [28], featureDim 16,\nvocabulary 284). Trained by `java -cp models/images/target/classes:api/target/classes"
                + " dev.arbor.models.images.TrainPatchPca " + out + " " + seed + "`.\n\n"
                + "Test images (10,000), MSE per pixel and PSNR:\n\n| reconstruction | MSE | PSNR (dB) |\n|---|---|---|\n"
                + String.format(Locale.ROOT, "| latents, float (exact up to the pixel clamp) | %.2e | %.2f |%n", exact,
                ReconstructionQuality.psnr(exact))
                + String.format(Locale.ROOT, "| wire ids (8-bit) | %.2e | %.2f |%n", wire, ReconstructionQuality.psnr(wire))
                + prefix
                + String.format(Locale.ROOT, "%nValues outside ±%.0f (clamped on the wire): %d of %,d. Standard deviation"
                + " per component: %s.%n", VALUE_RANGE, clamped, values, sd)
                + END + "\n";
        Path card = out.resolve("MODEL_CARD.md");
        String text = Files.exists(card) ? Files.readString(card) : "";
        int a = text.indexOf(BEGIN);
        int b = text.indexOf(END);
        text = a >= 0 && b > a ? text.substring(0, a) + section + text.substring(b + END.length() + 1)
                : text + (text.endsWith("\n") || text.isEmpty() ? "\n" : "\n\n") + section;
        Files.writeString(card, text);
        System.out.print(section);
    }

    static float[][] grid(float[] image) {
        return PatchGrid.rows(image);
    }

    static float[] flat(float[][] g) {
        return PatchGrid.flatten(g, "the PCA check");
    }
}
