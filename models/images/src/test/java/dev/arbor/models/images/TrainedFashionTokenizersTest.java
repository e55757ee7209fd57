package dev.arbor.models.images;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The committed tokenizers of models/trained/fashion-vq, measured on the first 2,000 test images (the card reports all
 * 10,000). Bounds sit a little under what the committed files measure (see the comments), so a retrained or damaged
 * codebook that reconstructs worse fails here.
 */
class TrainedFashionTokenizersTest {
    static final Path DIR = Path.of("../trained/fashion-vq"); // surefire runs in models/images
    static float[][] test;

    @BeforeAll
    static void load() {
        test = Arrays.copyOf(FashionMnist.load(FashionMnist.Split.TEST).images(), 2_000);
    }

    @Test
    void patchVqBeatsThePatchMeanBaseline() {
        PatchVqTokenizer vq = PatchVqTokenizer.read(DIR.resolve(TrainFashionTokenizers.PATCH_FILE));
        assertThat(vq.tokensPerImage()).isEqualTo(49);
        assertThat(vq.codebookSize()).isEqualTo(512);
        double baseline = ReconstructionQuality.psnr(ReconstructionQuality.mse(test, ReconstructionQuality::patchMeans));
        double psnr = ReconstructionQuality.psnr(ReconstructionQuality.mse(test, x -> vq.decode(vq.encode(x))));
        System.out.printf("first 2,000 test images: patch-mean baseline %.2f dB, patch VQ %.2f dB%n", baseline, psnr);
        assertThat(psnr).isGreaterThan(baseline + 5).isGreaterThan(PATCH_VQ_PSNR_BOUND);
    }

    @Test
    void multiScaleVqBeatsThePatchMeanBaseline() {
        MultiScaleVq vq = MultiScaleVq.read(DIR.resolve(TrainFashionTokenizers.MSVQ_FILE));
        assertThat(vq.scales()).containsExactly(MultiScaleVq.DEFAULT_SCALES);
        assertThat(vq.tokensPerImage()).isEqualTo(104);
        double baseline = ReconstructionQuality.psnr(ReconstructionQuality.mse(test, ReconstructionQuality::patchMeans));
        double psnr = ReconstructionQuality.psnr(ReconstructionQuality.mse(test, x -> vq.decode(vq.encode(x))));
        System.out.printf("first 2,000 test images: patch-mean baseline %.2f dB, multi-scale VQ %.2f dB%n", baseline, psnr);
        assertThat(psnr).isGreaterThan(baseline + 5).isGreaterThan(MSVQ_PSNR_BOUND);
    }

    /** The committed patch VQ measures 22.19 dB on these 2,000 images (22.20 dB on all 10,000). */
    static final double PATCH_VQ_PSNR_BOUND = 22.0;
    /** The committed multi-scale VQ measures 21.08 dB on these 2,000 images (21.05 dB on all 10,000). */
    static final double MSVQ_PSNR_BOUND = 20.9;
}
