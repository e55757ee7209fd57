package dev.arbor.models.images;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;

/**
 * Trains both Fashion-MNIST tokenizers from the training split with a fixed seed, measures them on the 10,000 test
 * images and writes {@code fashion-patch-vq.bin}, {@code fashion-msvq.bin} and {@code MODEL_CARD.md} to the output
 * folder. Usage: {@code TrainFashionTokenizers [OUT_DIR [SEED]]} (defaults {@code models/trained/fashion-vq}, 20261207).
 */
public final class TrainFashionTokenizers {
    public static final String PATCH_FILE = "fashion-patch-vq.bin";
    public static final String MSVQ_FILE = "fashion-msvq.bin";
    public static final long DEFAULT_SEED = 20261207L;

    // Hyper-parameters (the card records them).
    static final int PATCH_K = 512;
    static final int PATCH_SAMPLES = 120_000;
    static final int PATCH_ITERATIONS = 15;
    static final int MSVQ_K = 512;
    static final int MSVQ_IMAGES = 4_000;
    static final int MSVQ_ITERATIONS = 8;
    static final int MSVQ_PASSES = 2;

    private TrainFashionTokenizers() {
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : "models/trained/fashion-vq");
        long seed = args.length > 1 ? Long.parseLong(args[1]) : DEFAULT_SEED;
        FashionMnist train = FashionMnist.load(FashionMnist.Split.TRAIN);
        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        int threads = Runtime.getRuntime().availableProcessors();

        Instant t0 = Instant.now();
        PatchVqTokenizer patch = PatchVqTokenizer.train(train.images(), PATCH_K, PATCH_SAMPLES, PATCH_ITERATIONS, seed);
        Duration patchTime = Duration.between(t0, Instant.now());
        System.out.println("patch VQ trained in " + patchTime);

        Instant t1 = Instant.now();
        MultiScaleVq msvq = MultiScaleVq.train(train.images(), MultiScaleVq.DEFAULT_SCALES, MSVQ_K, MSVQ_IMAGES,
                MSVQ_ITERATIONS, MSVQ_PASSES, seed);
        Duration msvqTime = Duration.between(t1, Instant.now());
        System.out.println("multi-scale VQ trained in " + msvqTime);

        patch.write(out.resolve(PATCH_FILE));
        msvq.write(out.resolve(MSVQ_FILE));
        // Measure what was written: the files, read back, are the tokenizers users get.
        patch = PatchVqTokenizer.read(out.resolve(PATCH_FILE));
        msvq = MultiScaleVq.read(out.resolve(MSVQ_FILE));

        PatchVqTokenizer p = patch;
        MultiScaleVq m = msvq;
        double basel = ReconstructionQuality.mse(test.images(), ReconstructionQuality::patchMeans);
        double patchMse = ReconstructionQuality.mse(test.images(), x -> p.decode(p.encode(x)));
        double msvqMse = ReconstructionQuality.mse(test.images(), x -> m.decode(m.encode(x)));
        double[] perScale = new double[m.scales().length];
        for (int k = 0; k < perScale.length; k++) {
            int kk = k + 1;
            perScale[k] = ReconstructionQuality.mse(test.images(),
                    x -> PatchGrid.toImage(m.accumulate(m.encode(x), kk)));
        }
        String row = "| %s | %d | %d | %.5f | %.2f |%n";
        StringBuilder card = new StringBuilder();
        card.append("# fashion-vq: Fashion-MNIST image tokenizers\n\n")
                .append("Two pure-Java VQ tokenizers for 28x28 Fashion-MNIST images (package `dev.arbor.models.images`,\n")
                .append("module `models/images`), the token vocabularies of Arbor's image priors. No encoder network: the\n")
                .append("feature map is the 7x7 grid of 4x4 pixel patches (16 values per cell).\n\n")
                .append("| file | class | tokens / image | codebook |\n|---|---|---|---|\n")
                .append("| `").append(PATCH_FILE).append("` | `PatchVqTokenizer`: nearest code per 4x4 patch, raster order | ")
                .append(patch.tokensPerImage()).append(" | K = ").append(patch.codebookSize()).append(" |\n")
                .append("| `").append(MSVQ_FILE).append("` | `MultiScaleVq`: VAR residual VQ, scales ")
                .append(java.util.Arrays.toString(m.scales())).append(", area down / bilinear up, shared codebook | ")
                .append(m.tokensPerImage()).append(" | K = ").append(m.codebookSize()).append(" |\n\n")
                .append("File format: see `VqFile` (magic `ARBVQ\\0\\r\\n`, version 1, kind, sizes, scales, float32 codebook, CRC-32).\n\n")
                .append("## Training\n\n")
                .append("`java -cp models/images/target/classes:api/target/classes dev.arbor.models.images.TrainFashionTokenizers ")
                .append(out).append(' ').append(seed).append("`\n")
                .append("(after `mvn -o -q install -DskipTests -pl models/images -am`), on the 60,000 training images of the\n")
                .append("Debian package `dataset-fashion-mnist`, seed ").append(seed).append(", ").append(threads)
                .append(" threads available.\n\n")
                .append(String.format(Locale.ROOT, "* patch VQ: k-means++ then %d Lloyd iterations on %,d patches sampled from the"
                        + " training set; %.1f s.%n", PATCH_ITERATIONS, PATCH_SAMPLES, patchTime.toMillis() / 1000.0))
                .append(String.format(Locale.ROOT, "* multi-scale VQ: k-means on residuals in scale order over %,d training images"
                        + " (%d Lloyd iterations per scale, k-means++ at the first), then %d further pass(es) refitting on all"
                        + " scales' residuals; %.1f s.%n%n", MSVQ_IMAGES, MSVQ_ITERATIONS, MSVQ_PASSES - 1,
                        msvqTime.toMillis() / 1000.0))
                .append("## Reconstruction on the 10,000 test images\n\n")
                .append("MSE per pixel (pixels in [0,1]) over all test pixels; PSNR = 10·log10(1/MSE).\n\n")
                .append("| reconstruction | tokens | codebook | MSE | PSNR (dB) |\n|---|---|---|---|---|\n")
                .append(String.format(Locale.ROOT, row, "baseline: each 4x4 patch replaced by its mean", 49, 0, basel,
                        ReconstructionQuality.psnr(basel)).replace("| 0 |", "| (49 reals) |"))
                .append(String.format(Locale.ROOT, row, "patch VQ", patch.tokensPerImage(), patch.codebookSize(),
                        patchMse, ReconstructionQuality.psnr(patchMse)))
                .append(String.format(Locale.ROOT, row, "multi-scale VQ", m.tokensPerImage(), m.codebookSize(), msvqMse,
                        ReconstructionQuality.psnr(msvqMse)))
                .append("\nMulti-scale VQ after each scale (f̂ of the first scales only, the images VAR's partial canvases show):\n\n")
                .append("| scales | tokens | MSE | PSNR (dB) |\n|---|---|---|---|\n");
        for (int k = 0; k < perScale.length; k++) {
            card.append(String.format(Locale.ROOT, "| %s | %d | %.5f | %.2f |%n",
                    java.util.Arrays.toString(java.util.Arrays.copyOf(m.scales(), k + 1)), m.tokenOffset(k + 1) ,
                    perScale[k], ReconstructionQuality.psnr(perScale[k])));
        }
        card.append("\n## Limitations\n\n")
                .append("Codebooks of raw pixel patches, no perceptual loss and no learned decoder: reconstructions are\n")
                .append("blocky at 4x4 and lose fine texture. Made for Fashion-MNIST 28x28 grey images only.\n")
                .append("The multi-scale tokenizer has no learned encoder, φ mixing or decoder (VAR has all three), and its\n")
                .append("one codebook serves both coarse cells (whole-patch averages) and small fine-scale residuals, so at\n")
                .append("equal K it may reconstruct no better than the patch VQ despite more tokens: its point is the\n")
                .append("coarse-to-fine token order a next-scale prior predicts, compare the two rows above.\n")
                .append("Data: Fashion-MNIST (Zalando Research, MIT licence).\n");
        Files.writeString(out.resolve("MODEL_CARD.md"), card.toString());
        System.out.print(card);
    }
}
