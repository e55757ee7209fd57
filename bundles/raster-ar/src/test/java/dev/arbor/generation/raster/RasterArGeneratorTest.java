package dev.arbor.generation.raster;

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
import dev.arbor.api.model.Capability;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.guidance.Guidance;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.TokenHistoryBackend.ForwardCall;
import dev.arbor.testkit.ToyCausalBackend;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RasterArGeneratorTest {
    /** 3x3 raster token map, 8 codes, 3 classes: vocabulary 8 + 3 + 1 + 2 + 1 = 15. */
    static final ImageLayout LAYOUT = ToyImageTokenizer.layout(6, 8, 3, 2, 3);
    static final ToyImageTokenizer TOKENIZER = new ToyImageTokenizer(LAYOUT, 7);
    static final int N = LAYOUT.tokensPerImage();

    private final RasterArGenerator generator = new RasterArGenerator();

    static ToyCausalBackend toy(long seed, Capability... without) {
        return ToyCausalBackend.builder().vocabSize(LAYOUT.vocabSize()).maxPositions(N).seed(seed)
                .without(without).build();
    }

    static Supplier<Sampler> greedy() {
        return () -> new Sampler(List.of(), TestSelectors.ARGMAX);
    }

    static Supplier<Sampler> sampling() {
        return () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF);
    }

    static GenerationContext context(ToyCausalBackend model, Tokenizer tokenizer, int[] prompt, Supplier<Sampler> chain,
                                     long seed, Map<String, ?> options) {
        return new GenerationContext(model, tokenizer, prompt, 64, chain, null, seed, Options.of(options),
                Cancellation.NEVER);
    }

    static GenerationContext context(ToyCausalBackend model, int cls, Supplier<Sampler> chain, long seed,
                                     Map<String, ?> options) {
        return context(model, TOKENIZER, new int[] {LAYOUT.classToken(cls)}, chain, seed, options);
    }

    /**
     * An independent reference: the whole image decoded from the toy's pure function, conditional history
     * {@code [class] + codes}, unconditional {@code [null] + codes}, combined with weight {@code w(k)} (NaN = no
     * guidance), non-codes removed, the selector on a history seeded like the request's.
     */
    static int[] reference(ToyCausalBackend toy, int cls, TokenSelector selector, long seed,
                           java.util.function.IntToDoubleFunction weight) {
        int[] cond = {LAYOUT.classToken(cls)};
        SamplingContext history = SamplingContext.seeded(cond, LAYOUT.vocabSize(), seed);
        int[] codes = new int[N];
        for (int k = 0; k < N; k++) {
            int[] c = concat(cond, Arrays.copyOf(codes, k));
            float[] logits = toy.logitsFor(c);
            double w = weight.applyAsDouble(k);
            if (!Double.isNaN(w)) {
                int[] u = concat(new int[] {LAYOUT.nullClassToken()}, Arrays.copyOf(codes, k));
                logits = Guidance.combineWeighted(logits, toy.logitsFor(u), w, "toy");
            }
            for (int v = LAYOUT.codes(); v < logits.length; v++) {
                logits[v] = Float.NEGATIVE_INFINITY;
            }
            codes[k] = selector.select(logits, history).token();
            history.append(codes[k]);
        }
        return codes;
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void inertGuidanceInEveryConventionIsUnguidedDecodingBitForBitWithoutAnUnconditionalForward() {
        List<Map<String, Object>> inert = List.of(Map.of("guidance_scale", 1.0),
                Map.of("cfg_convention", "var", "guidance_scale", 0.0),
                Map.of("cfg_convention", "llada", "guidance_scale", 0.0),
                Map.of("cfg_convention", "var", "guidance_scale", 0.0, "cfg_ramp", "linear"));
        for (long seed = 0; seed < 8; seed++) {
            ToyCausalBackend toy = toy(seed);
            for (int cls = 0; cls < LAYOUT.classCount(); cls++) {
                for (TokenSelector selector : List.of(TestSelectors.ARGMAX, TestSelectors.INVERSE_CDF)) {
                    int[] want = reference(toy, cls, selector, seed, k -> Double.NaN);
                    for (Map<String, Object> options : inert) {
                        int before = toy.calls().size();
                        GenerationResult got = generator.generate(context(toy, cls,
                                () -> new Sampler(List.of(), selector), seed, options), TokenSink.DISCARD);
                        assertThat(got.tokens()).as(options.toString()).isEqualTo(want);
                        assertThat(got.forwardPasses()).isEqualTo(N);
                        assertThat(got.stats()).containsEntry("cfg.mode", "none").containsEntry("cfg.guided_steps", 0);
                        List<ForwardCall> calls = toy.calls().subList(before, toy.calls().size());
                        assertThat(calls).allMatch(c -> c.batchSize() == 1);
                    }
                }
            }
            assertThat(toy.openStates()).isZero();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llamagen", "var", "llada"})
    void guidedImagesEqualTheGuidedReferenceInBothModes(String convention) {
        double scale = 1.75;
        double w = convention.equals("llamagen") ? scale : scale + 1;
        for (long seed = 0; seed < 6; seed++) {
            ToyCausalBackend batch = toy(seed);
            ToyCausalBackend twoStates = toy(seed, Capability.BATCH);
            for (TokenSelector selector : List.of(TestSelectors.ARGMAX, TestSelectors.INVERSE_CDF)) {
                int[] want = reference(batch, 1, selector, seed, k -> w);
                Map<String, Object> options = Map.of("cfg_convention", convention, "guidance_scale", scale);
                GenerationResult a = generator.generate(context(batch, 1, () -> new Sampler(List.of(), selector),
                        seed, options), TokenSink.DISCARD);
                GenerationResult b = generator.generate(context(twoStates, 1, () -> new Sampler(List.of(), selector),
                        seed, options), TokenSink.DISCARD);
                assertThat(a.tokens()).isEqualTo(want);
                assertThat(b.tokens()).isEqualTo(want);
                assertThat(a.forwardPasses()).isEqualTo(N);
                assertThat(b.forwardPasses()).isEqualTo(2 * N);
                assertThat(a.stats()).containsEntry("cfg.mode", "batch").containsEntry("cfg.guided_steps", N)
                        .containsEntry("cfg.convention", convention).containsEntry("cfg.scale", scale);
                assertThat(b.stats()).containsEntry("cfg.mode", "two_states");
                assertThat(a.finishReason()).isEqualTo(FinishReason.STOP);
            }
            assertThat(batch.openStates()).isZero();
            assertThat(twoStates.openStates()).isZero();
        }
    }

    @Test
    void theDefaultIsLlamaGensConstantScaleTwo() {
        ToyCausalBackend toy = toy(3);
        GenerationResult got = generator.generate(context(toy, 2, sampling(), 11, Map.of()), TokenSink.DISCARD);
        assertThat(got.tokens()).isEqualTo(reference(toy, 2, TestSelectors.INVERSE_CDF, 11,
                k -> RasterArGenerator.DEFAULT_GUIDANCE_SCALE));
        assertThat(got.stats()).containsEntry("cfg.convention", "llamagen").containsEntry("cfg.ramp", "constant")
                .containsEntry("cfg.scale", 2.0);
    }

    @Test
    void aLinearRampIsInertAtTheFirstTokenAndFullAtTheLast() {
        double scale = 3.0;
        for (long seed = 0; seed < 5; seed++) {
            ToyCausalBackend toy = toy(seed);
            int[] want = reference(toy, 0, TestSelectors.INVERSE_CDF, seed, k -> 1 + (scale - 1) * k / (N - 1.0));
            GenerationResult got = generator.generate(context(toy, 0, sampling(), seed,
                    Map.of("guidance_scale", scale, "cfg_ramp", "linear")), TokenSink.DISCARD);
            assertThat(got.tokens()).isEqualTo(want);
            assertThat(got.stats()).containsEntry("cfg.guided_steps", N - 1).containsEntry("cfg.ramp", "linear");
            int[] unguided = reference(toy, 0, TestSelectors.INVERSE_CDF, seed, k -> Double.NaN);
            assertThat(got.tokens()[0]).isEqualTo(unguided[0]);
        }
    }

    @Test
    void theChainSeesCodesOnlyAndCanvasesFollowImageRows() {
        ToyCausalBackend toy = toy(5);
        List<float[]> rows = new ArrayList<>();
        LogitsProcessor recorder = (logits, context) -> rows.add(logits.clone());
        RecordingSink sink = new RecordingSink();
        GenerationResult got = generator.generate(context(toy, 1,
                () -> new Sampler(List.of(recorder), TestSelectors.INVERSE_CDF), 9, Map.of()), sink);
        assertThat(rows).hasSize(N);
        for (float[] row : rows) {
            for (int v = 0; v < row.length; v++) {
                if (v < LAYOUT.codes()) {
                    assertThat(row[v]).isFinite();
                } else {
                    assertThat(row[v]).isEqualTo(Float.NEGATIVE_INFINITY);
                }
            }
        }
        assertThat(sink.tokens()).isEqualTo(got.tokens());
        int side = LAYOUT.side(0);
        assertThat(sink.canvases()).hasSize(side);
        for (int r = 0; r < side; r++) {
            RecordingSink.CanvasEvent canvas = sink.canvases().get(r);
            assertThat(canvas.step()).isEqualTo(r + 1);
            assertThat(canvas.maskTokenId()).isEqualTo(LAYOUT.nullClassToken());
            int decoded = (r + 1) * side;
            assertThat(Arrays.copyOf(canvas.tokens(), decoded)).isEqualTo(Arrays.copyOf(got.tokens(), decoded));
            for (int p = decoded; p < N; p++) {
                assertThat(canvas.tokens()[p]).isEqualTo(LAYOUT.nullClassToken());
            }
            assertThat(canvas.tokens()).hasSize(N);
        }
        assertThat(got.stats()).containsEntry("image.rows_streamed", side);
    }

    /** The Fashion-MNIST raster layout (7x7 tokens, 512 codes, vocabulary 540): 49 batch-2 forwards, 7 canvases. */
    @Test
    void theFashionLayoutTakesOneForwardPerToken() {
        ImageLayout fashion = ToyImageTokenizer.layout(28, 512, 10, 16, 7);
        assertThat(fashion.vocabSize()).isEqualTo(540);
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(540).maxPositions(50).build();
        RecordingSink sink = new RecordingSink();
        GenerationResult got = generator.generate(context(toy, new ToyImageTokenizer(fashion, 1),
                new int[] {fashion.classToken(7)}, sampling(), 1, Map.of()), sink);
        assertThat(got.tokens()).hasSize(49);
        assertThat(got.forwardPasses()).isEqualTo(49);
        assertThat(toy.calls()).allMatch(c -> c.batchSize() == 2);
        assertThat(sink.canvases()).hasSize(7);
    }

    @Test
    void aSeedReproducesAnImage() {
        ToyCausalBackend toy = toy(1);
        int[] first = generator.generate(context(toy, 0, sampling(), 42, Map.of()), TokenSink.DISCARD).tokens();
        assertThat(generator.generate(context(toy, 0, sampling(), 42, Map.of()), TokenSink.DISCARD).tokens())
                .isEqualTo(first);
        boolean differs = false;
        for (long seed = 43; seed < 53 && !differs; seed++) {
            differs = !Arrays.equals(first, generator.generate(context(toy, 0, sampling(), seed, Map.of()),
                    TokenSink.DISCARD).tokens());
        }
        assertThat(differs).as("another seed draws another image").isTrue();
    }

    @Test
    void cancellationIsCheckedEveryStepAndTheSinkCanStop() {
        ToyCausalBackend toy = toy(2);
        int[] checks = {0};
        Cancellation afterFour = () -> ++checks[0] > 4;
        GenerationResult cancelled = generator.generate(new GenerationContext(toy, TOKENIZER,
                new int[] {LAYOUT.classToken(0)}, 64, sampling(), null, 1, Options.empty(), afterFour),
                TokenSink.DISCARD);
        assertThat(cancelled.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(cancelled.tokens()).hasSize(4);
        RecordingSink stopsAtTwo = new RecordingSink(2);
        GenerationResult stopped = generator.generate(context(toy, 0, sampling(), 1, Map.of()), stopsAtTwo);
        assertThat(stopped.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(stopped.tokens()).hasSize(2);
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void refusesWhatItCannotDecode() {
        ToyCausalBackend toy = toy(0);
        Tokenizer text = new Tokenizer() {
            @Override
            public int[] encode(String s, boolean special) {
                return new int[0];
            }

            @Override
            public String decode(int[] ids) {
                return "";
            }

            @Override
            public int vocabSize() {
                return LAYOUT.vocabSize();
            }
        };
        int[] cls = {LAYOUT.classToken(0)};
        assertThatThrownBy(() -> generator.generate(context(toy, text, cls, greedy(), 0, Map.of()),
                TokenSink.DISCARD)).isInstanceOf(ArborException.class)
                .hasMessageContaining("image tokenizer").hasMessageContaining(text.getClass().getName());
        assertThatThrownBy(() -> generator.generate(context(toy, null, cls, greedy(), 0, Map.of()),
                TokenSink.DISCARD)).hasMessageContaining("image tokenizer").hasMessageContaining("missing");
        for (int[] bad : new int[][] {{}, {LAYOUT.classToken(0), LAYOUT.classToken(1)}, {3},
                {LAYOUT.nullClassToken()}}) {
            assertThatThrownBy(() -> generator.generate(context(toy, TOKENIZER, bad, greedy(), 0, Map.of()),
                    TokenSink.DISCARD)).isInstanceOf(ArborException.class)
                    .hasMessageContaining("exactly one class token").hasMessageContaining("index 0-2")
                    .hasMessageContaining("c0, c1, c2");
        }
        assertThatThrownBy(() -> generator.generate(context(toy, 0, greedy(), 0, Map.of("cfg_convention", "cfg++")),
                TokenSink.DISCARD)).hasMessageContaining("cfg_convention must be llamagen, var or llada");
        assertThatThrownBy(() -> generator.generate(new GenerationContext(toy, TOKENIZER, cls, N - 1, greedy(), null,
                0, Options.empty(), Cancellation.NEVER), TokenSink.DISCARD))
                .hasMessageContaining("raise max_tokens to at least " + N);
        ImageLayout multiScale = ToyImageTokenizer.layout(6, 8, 3, 2, 1, 3);
        ToyCausalBackend big = ToyCausalBackend.builder().vocabSize(multiScale.vocabSize()).maxPositions(64).build();
        assertThatThrownBy(() -> generator.generate(context(big, new ToyImageTokenizer(multiScale, 1),
                new int[] {multiScale.classToken(0)}, greedy(), 0, Map.of()), TokenSink.DISCARD))
                .hasMessageContaining("single-scale").hasMessageContaining("next-scale");
        ToyCausalBackend small = ToyCausalBackend.builder().vocabSize(LAYOUT.vocabSize() - 1).build();
        assertThatThrownBy(() -> generator.generate(context(small, 0, greedy(), 0, Map.of()), TokenSink.DISCARD))
                .hasMessageContaining("needs " + LAYOUT.vocabSize() + " ids");
        assertThat(toy.calls()).isEmpty();
    }
}
