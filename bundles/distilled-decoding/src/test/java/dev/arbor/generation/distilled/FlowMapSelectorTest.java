package dev.arbor.generation.distilled;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.models.images.ImageVqTokenizerProvider;
import dev.arbor.models.images.PatchVqTokenizer;
import dev.arbor.testkit.ChiSquare;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The {@code flow-map} selector on the committed Fashion-MNIST patch VQ (512 codes in R^16, the codebook DD's teacher
 * uses): the codebook reaches it through {@link ImageTokenizer#codeVectors()} and equals the forge's; its tokens
 * follow the softmax of the logits (chi-square, 4000 draws, with a power check); the same request seed gives the
 * same tokens; greedy mode draws nothing; ids beyond the codebook keep the law; and the option checks (missing
 * codebook, files outside the models folder).
 */
class FlowMapSelectorTest {
    static final Path MODELS = Path.of("../../models/trained").toAbsolutePath().normalize();
    static final String CODEBOOK = "fashion-vq/fashion-patch-vq.bin";
    static final int VOCAB = 540;

    static FlowMapSelectorFactory factory() {
        return new FlowMapSelectorFactory(new ImageVqTokenizerProvider(), List.of(MODELS));
    }

    static TokenSelector selector(Map<String, ?> options) {
        return factory().create(Options.of(options));
    }

    /** A law on 8 codes spread over the codebook (every other id -inf, as an image generator passes it). */
    static float[] logits(double[] p, int[] codes) {
        float[] l = new float[VOCAB];
        Arrays.fill(l, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < codes.length; i++) {
            l[codes[i]] = (float) Math.log(p[i]);
        }
        return l;
    }

    @Test
    void theCodebookIsThePatchVqsAsTheForgeReadsIt() {
        ImageTokenizer t = (ImageTokenizer) new ImageVqTokenizerProvider().open(MODELS.resolve(CODEBOOK),
                Options.empty());
        PatchVqTokenizer forge = PatchVqTokenizer.read(MODELS.resolve(CODEBOOK));
        float[][] codes = t.codeVectors().orElseThrow();
        assertThat(codes).hasNumberOfRows(512);
        for (int k = 0; k < codes.length; k++) {
            assertThat(codes[k]).as("code %d", k).containsExactly(forge.codeVector(k));
        }
    }

    @Test
    void tokensFollowTheLawAndTheSameSeedGivesTheSameTokens() {
        TokenSelector s = selector(Map.of(FlowMapSelectorFactory.CODEBOOK, CODEBOOK));
        int[] codes = {3, 40, 41, 100, 200, 311, 400, 507};
        double[] p = {0.02, 0.25, 0.2, 0.05, 0.1, 0.18, 0.12, 0.08};
        float[] l = logits(p, codes);
        SamplingContext ctx = SamplingContext.seeded(new int[] {512}, VOCAB, 99);
        long[] counts = new long[codes.length];
        for (int i = 0; i < 4000; i++) {
            Selection sel = s.select(l.clone(), ctx);
            int idx = Arrays.binarySearch(codes, sel.token());
            assertThat(idx).as("token %d has probability > 0", sel.token()).isGreaterThanOrEqualTo(0);
            assertThat(sel.distribution()[sel.token()]).isCloseTo((float) p[idx], org.assertj.core.api.Assertions
                    .within(1e-5f));
            counts[idx]++;
        }
        ChiSquare.Result r = ChiSquare.test(p, counts);
        assertThat(r.pValue()).as("flow-mapped tokens vs p: %s", r).isGreaterThan(0.001);
        double[] swapped = p.clone();
        swapped[1] = p[0];
        swapped[0] = p[1];
        assertThat(ChiSquare.test(swapped, counts).pValue()).as("power: a wrong law").isLessThan(0.001);

        SamplingContext a = SamplingContext.seeded(new int[] {512}, VOCAB, 5);
        SamplingContext b = SamplingContext.seeded(new int[] {512}, VOCAB, 5);
        for (int i = 0; i < 50; i++) {
            assertThat(s.select(l.clone(), b).token()).isEqualTo(s.select(l.clone(), a).token());
        }
    }

    @Test
    void greedyTakesTheArgmaxAndDrawsNothing() {
        TokenSelector s = selector(Map.of(FlowMapSelectorFactory.CODEBOOK, CODEBOOK, "temperature", 0));
        float[] l = logits(new double[] {0.1, 0.6, 0.3}, new int[] {7, 8, 9});
        SamplingContext ctx = SamplingContext.seeded(new int[] {512}, VOCAB, 1);
        assertThat(s.select(l, ctx).token()).isEqualTo(8);
        assertThat(ctx.random().nextLong()).isEqualTo(new SplittableRandom(1).nextLong());
    }

    @Test
    void refusesAMissingOrOutsideCodebookAndLogitsWithoutACode() throws Exception {
        assertThatThrownBy(() -> selector(Map.of())).isInstanceOf(ArborException.class)
                .hasMessageContaining("flow_codebook");
        assertThatThrownBy(() -> selector(Map.of(FlowMapSelectorFactory.CODEBOOK, "../../pom.xml")))
                .isInstanceOf(ArborException.class).hasMessageContaining("outside the models folders");
        Path outside = Files.createTempFile("codebook", ".bin");
        try {
            assertThatThrownBy(() -> selector(Map.of(FlowMapSelectorFactory.CODEBOOK, outside.toString())))
                    .isInstanceOf(ArborException.class).hasMessageContaining("outside the models folders");
        } finally {
            Files.deleteIfExists(outside);
        }
        assertThatThrownBy(() -> selector(Map.of(FlowMapSelectorFactory.CODEBOOK, "fashion-vq/none.bin")))
                .isInstanceOf(ArborException.class).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> selector(Map.of(FlowMapSelectorFactory.CODEBOOK, CODEBOOK,
                FlowMapSelectorFactory.STEPS, 10))).isInstanceOf(ArborException.class);
    }

    @Test
    void idsBeyondTheCodebookKeepTheLaw() {
        // the runtime's warm-up row (all zeros over the vocabulary) and a law that puts mass on non-code ids
        TokenSelector s = selector(Map.of(FlowMapSelectorFactory.CODEBOOK, CODEBOOK));
        assertThat(s.select(new float[VOCAB], SamplingContext.seeded(new int[] {512}, VOCAB, 0)).token())
                .isBetween(0, VOCAB - 1);
        int[] ids = {10, 300, 520, 539};
        double[] p = {0.3, 0.1, 0.4, 0.2};
        float[] l = logits(p, ids);
        SamplingContext ctx = SamplingContext.seeded(new int[] {512}, VOCAB, 8);
        long[] counts = new long[ids.length];
        for (int i = 0; i < 2000; i++) {
            int idx = Arrays.binarySearch(ids, s.select(l.clone(), ctx).token());
            assertThat(idx).isGreaterThanOrEqualTo(0);
            counts[idx]++;
        }
        ChiSquare.Result r = ChiSquare.test(p, counts);
        assertThat(r.pValue()).as("%s", r).isGreaterThan(0.001);
        assertThat(ChiSquare.test(new double[] {0.4, 0.1, 0.3, 0.2}, counts).pValue()).isLessThan(0.001);
    }
}
