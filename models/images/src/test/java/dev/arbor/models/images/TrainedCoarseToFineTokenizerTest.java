package dev.arbor.models.images;

import dev.arbor.api.Options;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The committed 1D coarse-to-fine tokenizer of models/trained/fashion-detail-vq, measured on the first 2,000 test
 * images (the card reports all 10,000): every further token raises the PSNR, and the whole sequence reconstructs at
 * least as well as the bound below (a little under what the committed file measures), so a retrained or damaged
 * file that reconstructs worse fails here.
 */
class TrainedCoarseToFineTokenizerTest {
    static final Path FILE = Path.of("../trained/fashion-detail-vq").resolve(TrainCoarseToFineTokenizer.FILE);
    static float[][] test;
    static CoarseToFineImageTokenizer tokenizer;

    @BeforeAll
    static void load() {
        test = Arrays.copyOf(FashionMnist.load(FashionMnist.Split.TEST).images(), 2_000);
        tokenizer = (CoarseToFineImageTokenizer) new ImageCoarseToFineTokenizerProvider().open(FILE, Options.empty());
    }

    @Test
    void theLayoutServesAPriorOf16Tokens() {
        assertThat(tokenizer.layout().scales()).containsExactly(4);
        assertThat(tokenizer.layout().tokensPerImage()).isEqualTo(16);
        assertThat(tokenizer.layout().codes()).isEqualTo(512);
        assertThat(tokenizer.layout().featureDim()).isEqualTo(64);
        assertThat(tokenizer.vocabSize()).isEqualTo(512 + 10 + 1 + 64 + 1);
    }

    @Test
    void psnrRisesWithEveryPrefixToken() {
        CoarseToFineVq vq = tokenizer.vq();
        int[][] codes = new int[test.length][];
        for (int i = 0; i < test.length; i++) codes[i] = vq.encode(test[i]);
        double[] psnr = new double[vq.stages() + 1];
        for (int n = 0; n <= vq.stages(); n++) {
            double sum = 0;
            for (int i = 0; i < test.length; i++) {
                float[] y = vq.decode(Arrays.copyOf(codes[i], n));
                for (int p = 0; p < y.length; p++) sum += (test[i][p] - y[p]) * (test[i][p] - y[p]);
            }
            psnr[n] = ReconstructionQuality.psnr(sum / ((double) test.length * FashionMnist.PIXELS));
        }
        System.out.println("first 2,000 test images, PSNR by prefix length: " + Arrays.toString(psnr));
        for (int n = 1; n < psnr.length; n++) {
            assertThat(psnr[n]).as("PSNR after %d tokens", n).isGreaterThan(psnr[n - 1]);
        }
        // one token already draws a silhouette far better than the mean image
        assertThat(psnr[1]).isGreaterThan(psnr[0] + 4);
        assertThat(psnr[vq.stages()]).isGreaterThan(WHOLE_PSNR_BOUND);
    }

    /** The committed file measures 19.68 dB on these 2,000 images (19.58 dB on all 10,000: the card). */
    static final double WHOLE_PSNR_BOUND = 19.4;
}
