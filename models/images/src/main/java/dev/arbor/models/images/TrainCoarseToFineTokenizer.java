package dev.arbor.models.images;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Locale;

/**
 * Trains the 1D coarse-to-fine Fashion-MNIST tokenizer ({@link CoarseToFineVq}) from the training split with a fixed
 * seed, measures it on the 10,000 test images (PSNR of every prefix length) and writes {@value #FILE} and
 * {@code MODEL_CARD.md} to the output folder. Usage: {@code TrainCoarseToFineTokenizer [OUT_DIR [SEED]]} (defaults
 * {@code models/trained/fashion-detail-vq}, 20261207).
 */
public final class TrainCoarseToFineTokenizer {
    public static final String FILE = "fashion-detail-vq.bin";

    // Hyper-parameters (the card records them).
    static final int COMPONENTS = 64;
    static final int STAGES = 16;
    static final int K = 512;
    static final int IMAGES = 12_000;
    static final int ITERATIONS = 10;

    private TrainCoarseToFineTokenizer() {
    }

    /** Σ over pixels of the pixel's variance across {@code images} (the trace of the covariance). */
    static double totalVariance(float[][] images) {
        int d = images[0].length;
        double[] sum = new double[d];
        double[] sq = new double[d];
        for (float[] x : images) {
            for (int i = 0; i < d; i++) {
                sum[i] += x[i];
                sq[i] += (double) x[i] * x[i];
            }
        }
        double total = 0;
        int n = images.length;
        for (int i = 0; i < d; i++) total += (sq[i] - sum[i] * sum[i] / n) / (n - 1);
        return total;
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : "models/trained/fashion-detail-vq");
        long seed = args.length > 1 ? Long.parseLong(args[1]) : TrainFashionTokenizers.DEFAULT_SEED;
        FashionMnist train = FashionMnist.load(FashionMnist.Split.TRAIN);
        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        int threads = Runtime.getRuntime().availableProcessors();

        Instant t0 = Instant.now();
        CoarseToFineVq trained = CoarseToFineVq.train(train.images(), COMPONENTS, STAGES, K, IMAGES, ITERATIONS, seed);
        Duration time = Duration.between(t0, Instant.now());
        System.out.println("coarse-to-fine VQ trained in " + time);
        double[] variances = trained.basis().variances();
        trained.write(out.resolve(FILE));
        // Measure what was written: the file, read back, is the tokenizer users get.
        CoarseToFineVq vq = CoarseToFineVq.read(out.resolve(FILE));

        float[][] images = test.images();
        double pcaMse = ReconstructionQuality.mse(images, x -> {
            float[] y = vq.basis().reconstruct(vq.basis().project(x));
            for (int i = 0; i < y.length; i++) y[i] = Math.min(1f, Math.max(0f, y[i]));
            return y;
        });
        // each image encoded once; every prefix of its codes decoded (the error sums run in image order)
        int[][] codes = new int[images.length][];
        java.util.stream.IntStream.range(0, images.length).parallel().forEach(i -> codes[i] = vq.encode(images[i]));
        double[] prefix = new double[vq.stages() + 1];
        for (int n = 0; n <= vq.stages(); n++) {
            double sum = 0;
            for (int i = 0; i < images.length; i++) {
                float[] y = vq.decode(Arrays.copyOf(codes[i], n));
                for (int p = 0; p < y.length; p++) {
                    double d = images[i][p] - y[p];
                    sum += d * d;
                }
            }
            prefix[n] = sum / ((double) images.length * FashionMnist.PIXELS);
        }
        double total = Arrays.stream(variances).sum();
        double pixelVariance = totalVariance(train.images());
        StringBuilder card = new StringBuilder();
        card.append("# fashion-detail-vq: a 1D coarse-to-fine Fashion-MNIST tokenizer\n\n")
                .append("A pure-Java tokenizer (class `CoarseToFineVq`, module `models/images`; pipeline tokenizer format\n")
                .append("`image-1d`) giving each 28x28 image a sequence of ").append(vq.stages())
                .append(" tokens in coarse-to-fine order, the token order of\n")
                .append("DetailFlow's next-detail prediction (Liu et al. 2025): any prefix decodes to an image, a short one\n")
                .append("to a coarse one, and every further token adds detail. DetailFlow learns a 1D transformer tokenizer;\n")
                .append("this one has the same prefix property by construction: stage-wise residual VQ of the image's PCA\n")
                .append("coefficients. The image is projected on the ").append(vq.components())
                .append(" leading principal components of the training images;\n")
                .append("stage i (i = 0..").append(vq.stages() - 1).append(") has its own codebook of K = ")
                .append(vq.codebookSize()).append(" coefficient vectors and quantizes the residual the\n")
                .append("stages before it left; token i is stage i's code. decode(prefix) = mean + Vᵀ·Σ(prefix's stage codes),\n")
                .append("clamped to [0,1]. Token ids are shared by all stages (id 17 means stage i's code 17 at position i).\n\n")
                .append("Layout for priors: `ImageLayout` scales [").append((int) Math.round(Math.sqrt(vq.stages())))
                .append("] (the square root of the token count: the tokens have no 2D position),\n")
                .append("codes ").append(vq.codebookSize()).append(", feature width ").append(vq.components())
                .append(" (the PCA components).\n\n")
                .append("File format: see `CoarseToFineVq` (magic `ARBC2F\\r\\n`, version 1, sizes, float32 mean, basis and\n")
                .append("codebooks, CRC-32).\n\n")
                .append("## Training\n\n")
                .append("`java -cp models/images/target/classes:api/target/classes dev.arbor.models.images.TrainCoarseToFineTokenizer ")
                .append(out).append(' ').append(seed).append("`\n")
                .append("(after `mvn -o -q install -DskipTests -pl models/images -am`), on the training images of the Debian\n")
                .append("package `dataset-fashion-mnist`, seed ").append(seed).append(", ").append(threads)
                .append(" threads available.\n\n")
                .append(String.format(Locale.ROOT, "* PCA: covariance of all %,d training images, 60 subspace iterations"
                        + " and a Rayleigh–Ritz step; the %d components hold %.1f %% of the training images' pixel"
                        + " variance (%.3f of %.3f).%n", train.size(), vq.components(), 100 * total / pixelVariance,
                        total, pixelVariance))
                .append(String.format(Locale.ROOT, "* stages: k-means (k-means++ then %d Lloyd iterations) on the residual"
                        + " coefficients of %,d training images, one stage after the other; %.1f s in all.%n%n",
                        ITERATIONS, IMAGES, time.toMillis() / 1000.0))
                .append("## Reconstruction on the 10,000 test images\n\n")
                .append("MSE per pixel (pixels in [0,1]) over all test pixels; PSNR = 10·log10(1/MSE). The prefix rows are\n")
                .append("the images a partial canvas shows while a prior decodes.\n\n")
                .append("| reconstruction | tokens | MSE | PSNR (dB) |\n|---|---|---|---|\n")
                .append(String.format(Locale.ROOT, "| PCA projection alone (the bound of any code choice) | (%d reals) |"
                        + " %.5f | %.2f |%n", vq.components(), pcaMse, ReconstructionQuality.psnr(pcaMse)));
        for (int n = 0; n <= vq.stages(); n++) {
            card.append(String.format(Locale.ROOT, "| prefix of %d token(s)%s | %d | %.5f | %.2f |%n", n,
                    n == 0 ? " (the mean image)" : n == vq.stages() ? " (whole image)" : "", n, prefix[n],
                    ReconstructionQuality.psnr(prefix[n])));
        }
        card.append("\nFor comparison (models/trained/fashion-vq/MODEL_CARD.md): the 4x4 patch VQ reaches 22.20 dB with 49\n")
                .append("tokens, VAR's multi-scale VQ 21.05 dB with 104.\n\n")
                .append("## Limitations\n\n")
                .append("Linear: no learned encoder or decoder and no perceptual loss, so reconstructions are smooth (PCA\n")
                .append("blur) rather than sharp; the tail of the sequence adds little. Greedy stage-by-stage training (no\n")
                .append("joint refinement of the codebooks). Made for Fashion-MNIST 28x28 grey images only.\n")
                .append("Data: Fashion-MNIST (Zalando Research, MIT licence).\n");
        Files.writeString(out.resolve("MODEL_CARD.md"), card.toString());
        System.out.print(card);
    }
}
