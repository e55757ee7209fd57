package dev.arbor.generation.distilled;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The student loop of Distilled Decoding on a toy bidirectional backend: one full-attention forward of 1 + n input
 * embeddings per entry of t_list, the inputs StudentInput defines (noise from the request's RNG, kept codes before
 * the split, the step token), the split logic (tokens before a split are the previous step's), same seed same
 * image, and the option checks.
 */
class DistilledDecodingGeneratorTest {
    /** One scale of 4x4 = 16 tokens; 8 codes, 3 classes, feature width 2: vocabulary 8 + 3 + 1 + 2 + 1 = 15. */
    static final ImageLayout LAYOUT = ToyImageTokenizer.layout(8, 8, 3, 2, 4);
    static final ToyImageTokenizer TOKENIZER = new ToyImageTokenizer(LAYOUT, 7);
    static final int N = LAYOUT.tokensPerImage();

    private final DistilledDecodingGenerator generator = new DistilledDecodingGenerator();

    static ToyStudentBackend toy(long seed) {
        return new ToyStudentBackend(LAYOUT.vocabSize(), 6, N + 1, seed);
    }

    static GenerationContext context(ModelBackend model, int cls, long seed, Map<String, ?> options,
                                     Cancellation cancellation) {
        return new GenerationContext(model, TOKENIZER, new int[] {LAYOUT.classToken(cls)}, 64,
                () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF), null, seed, Options.of(options),
                cancellation);
    }

    static GenerationContext context(ModelBackend model, int cls, long seed, Map<String, ?> options) {
        return context(model, cls, seed, options, Cancellation.NEVER);
    }

    /** The embedding of a mixture computed here from the toy's table. */
    static float[] mix(ToyStudentBackend toy, int[] ids, float[] w) {
        float[] x = new float[toy.embeddingSize()];
        for (int k = 0; k < ids.length; k++) {
            float[] e = toy.embedding(ids[k]);
            for (int c = 0; c < x.length; c++) {
                x[c] += w[k] * e[c];
            }
        }
        return x;
    }

    static int argmaxCode(float[] logits) {
        int best = 0;
        for (int k = 1; k < LAYOUT.codes(); k++) {
            if (logits[k] > logits[best]) {
                best = k;
            }
        }
        return best;
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "0,8", "0,3,9", "0,1,2,3,4,5,6,7"})
    void oneFullAttentionForwardOfTheWholeImagePerStep(String tList) {
        ToyStudentBackend toy = toy(1);
        GenerationResult got = generator.generate(context(toy, 1, 5, Map.of("t_list", tList)), TokenSink.DISCARD);
        int steps = tList.split(",").length;
        assertThat(got.forwardPasses()).isEqualTo(steps);
        assertThat(got.stats()).containsEntry("forwards", steps);
        assertThat(toy.calls()).hasSize(steps);
        for (ToyStudentBackend.Call c : toy.calls()) {
            assertThat(c.batch()).isEqualTo(1);
            assertThat(c.inputs()).hasNumberOfRows(N + 1);
            assertThat(c.attention()).isInstanceOf(AttentionSpec.Full.class);
        }
        assertThat(got.tokens()).hasSize(N);
        assertThat(java.util.Arrays.stream(got.tokens()).allMatch(LAYOUT::isCode)).isTrue();
        assertThat(got.finishReason()).isEqualTo(FinishReason.STOP);
    }

    @Test
    void theInputsAreTheClassTheNoiseAndTheKeptCodesAndTheTokensTheArgmax() {
        ToyStudentBackend toy = toy(2);
        int split = 6;
        GenerationResult got = generator.generate(context(toy, 2, 11, Map.of("t_list", List.of(0, split))),
                TokenSink.DISCARD);
        // the noise: the request's RNG (seeded by the request's seed), token-major
        SplittableRandom rng = new SplittableRandom(11);
        float[] eps = new float[N * LAYOUT.featureDim()];
        for (int i = 0; i < eps.length; i++) {
            eps[i] = (float) rng.nextGaussian();
        }
        float[][] first = toy.calls().get(0).inputs();
        float[][] second = toy.calls().get(1).inputs();
        int[] basis = {LAYOUT.featureBasisToken(0), LAYOUT.featureBasisToken(1)};
        assertThat(first[0]).containsExactly(mix(toy, new int[] {LAYOUT.classToken(2)}, new float[] {1}));
        assertThat(second[0]).containsExactly(mix(toy, new int[] {LAYOUT.classToken(2), LAYOUT.levelToken(0)},
                new float[] {1, 1}));
        int[] oneStep = new int[N];
        float[][] l1 = toy.logits(first);
        for (int i = 0; i < N; i++) {
            float[] noise = {eps[2 * i], eps[2 * i + 1]};
            assertThat(first[1 + i]).containsExactly(mix(toy, basis, noise));
            oneStep[i] = argmaxCode(l1[1 + i]);
            if (i < split) {
                assertThat(second[1 + i]).as("kept code %d", i)
                        .containsExactly(mix(toy, new int[] {oneStep[i]}, new float[] {1}));
            } else {
                assertThat(second[1 + i]).as("same noise after the split, position %d", i)
                        .containsExactly(first[1 + i]);
            }
        }
        float[][] l2 = toy.logits(second);
        for (int i = 0; i < N; i++) {
            assertThat(got.tokens()[i]).as("token %d", i).isEqualTo(i < split ? oneStep[i] : argmaxCode(l2[1 + i]));
        }
        // the one-step image from the same seed is the first step's
        GenerationResult one = generator.generate(context(toy(2), 2, 11, Map.of()), TokenSink.DISCARD);
        assertThat(one.tokens()).containsExactly(oneStep);
    }

    @Test
    void sameSeedSameImageAndTheNoiseMatters() {
        GenerationResult a = generator.generate(context(toy(3), 0, 42, Map.of("t_list", "0,8")), TokenSink.DISCARD);
        GenerationResult b = generator.generate(context(toy(3), 0, 42, Map.of("t_list", "0,8")), TokenSink.DISCARD);
        assertThat(b.tokens()).containsExactly(a.tokens());
        boolean differs = false;
        for (long seed = 43; seed < 48 && !differs; seed++) {
            differs = !java.util.Arrays.equals(a.tokens(), generator.generate(context(toy(3), 0, seed,
                    Map.of("t_list", "0,8")), TokenSink.DISCARD).tokens());
        }
        assertThat(differs).as("another seed gives another image").isTrue();
    }

    @Test
    void streamsOneCanvasPerStepAndEmitsEveryToken() {
        RecordingSink sink = new RecordingSink();
        GenerationResult got = generator.generate(context(toy(4), 1, 3, Map.of("t_list", "0,5")), sink);
        assertThat(sink.canvases()).hasSize(2);
        assertThat(sink.canvases().get(1).tokens()).containsExactly(got.tokens());
        assertThat(sink.tokens()).containsExactly(got.tokens());
        assertThat(got.stats()).containsEntry("dd.t_list", List.of(0, 5)).containsEntry("image.class", 1);
    }

    @Test
    void cancellationStopsBetweenForwards() {
        AtomicInteger checks = new AtomicInteger();
        Cancellation afterOne = () -> checks.incrementAndGet() > 1;
        ToyStudentBackend toy = toy(5);
        GenerationResult got = generator.generate(context(toy, 0, 1, Map.of("t_list", "0,4,8"), afterOne),
                TokenSink.DISCARD);
        assertThat(toy.calls()).hasSizeLessThan(3);
        assertThat(got.finishReason()).isEqualTo(FinishReason.CANCELLED);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "4", "0,0", "0,5,3", "0,16", "0,-1", "0,x", "0,2.5", "0,1,2,3,4,5,6,7,8"})
    void refusesABadTList(String tList) {
        assertThatThrownBy(() -> generator.generate(context(toy(6), 0, 1, Map.of("t_list", tList)),
                TokenSink.DISCARD)).isInstanceOf(ArborException.class).hasMessageContaining("t_list");
    }

    @Test
    void refusesAFractionalListEntryAndGuidance() {
        assertThatThrownBy(() -> generator.generate(context(toy(6), 0, 1, Map.of("t_list", List.of(0, 2.5))),
                TokenSink.DISCARD)).isInstanceOf(ArborException.class).hasMessageContaining("integers");
        assertThatThrownBy(() -> generator.generate(context(toy(6), 0, 1, Map.of("guidance_scale", 2.0)),
                TokenSink.DISCARD)).isInstanceOf(ArborException.class)
                .hasMessageContaining("does not run classifier-free guidance");
    }

    @Test
    void refusesAnArPriorAndAMissingCapability() {
        ToyStudentBackend causal = new ToyStudentBackend(LAYOUT.vocabSize(), 6, N + 1, 1, LogitAlignment.NEXT,
                NativeAttention.CAUSAL);
        assertThatThrownBy(() -> generator.generate(context(causal, 0, 1, Map.of()), TokenSink.DISCARD))
                .isInstanceOf(ArborException.class).hasMessageContaining("alignment SAME, attention BIDIRECTIONAL")
                .hasMessageContaining("raster-ar");
        ToyStudentBackend noEmbeds = new ToyStudentBackend(LAYOUT.vocabSize(), 6, N + 1, 1, LogitAlignment.SAME,
                NativeAttention.BIDIRECTIONAL, Capability.INPUT_EMBEDS);
        assertThatThrownBy(() -> generator.generate(context(noEmbeds, 0, 1, Map.of()), TokenSink.DISCARD))
                .isInstanceOf(ArborException.class).hasMessageContaining("INPUT_EMBEDS");
        ToyStudentBackend short_ = new ToyStudentBackend(LAYOUT.vocabSize(), 6, N, 1);
        assertThatThrownBy(() -> generator.generate(context(short_, 0, 1, Map.of()), TokenSink.DISCARD))
                .isInstanceOf(ArborException.class).hasMessageContaining("context");
    }
}
