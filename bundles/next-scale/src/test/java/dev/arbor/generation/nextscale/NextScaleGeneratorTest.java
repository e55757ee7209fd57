package dev.arbor.generation.nextscale;

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
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.guidance.Guidance;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.ToyCausalBackend;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.IntToDoubleFunction;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NextScaleGeneratorTest {
    /** Scales 1, 2, 3: 14 tokens; 8 codes, 3 classes, feature width 2: vocabulary 8 + 3 + 1 + 2 + 3 = 17. */
    static final ImageLayout LAYOUT = ToyImageTokenizer.layout(6, 8, 3, 2, 1, 2, 3);
    static final ToyImageTokenizer TOKENIZER = new ToyImageTokenizer(LAYOUT, 7);
    static final int N = LAYOUT.tokensPerImage();
    static final int K = LAYOUT.scaleCount();

    private final NextScaleGenerator generator = new NextScaleGenerator();

    static ToyScaleBackend toy(long seed, Capability... without) {
        return new ToyScaleBackend(LAYOUT.vocabSize(), 6, N, seed, without);
    }

    static Supplier<Sampler> chain(TokenSelector selector) {
        return () -> new Sampler(List.of(), selector);
    }

    static GenerationContext context(ModelBackend model, Tokenizer tokenizer, int[] prompt, Supplier<Sampler> chain,
                                     long seed, Map<String, ?> options) {
        return new GenerationContext(model, tokenizer, prompt, 64, chain, null, seed, Options.of(options),
                Cancellation.NEVER);
    }

    static GenerationContext context(ModelBackend model, int cls, TokenSelector selector, long seed,
                                     Map<String, ?> options) {
        return context(model, TOKENIZER, new int[] {LAYOUT.classToken(cls)}, chain(selector), seed, options);
    }

    /**
     * An independent reference: the whole image from the toy's pure function on the whole sequence (no KV state),
     * with VAR's mask by scale, inputs {@code E[class]} then {@code E[level(k)] + Σ_j f_j·E[basis(j)]} computed here,
     * the unconditional row {@code E[null]} then the same inputs, combined with weight {@code w(k)} (NaN = no
     * guidance), non-codes removed, every position of a scale drawn in raster order before the scale is committed.
     */
    static int[] reference(ToyScaleBackend toy, int cls, TokenSelector selector, long seed, IntToDoubleFunction w) {
        SamplingContext history = SamplingContext.seeded(new int[] {LAYOUT.classToken(cls)}, LAYOUT.vocabSize(), seed);
        float[][] cond = new float[N][];
        float[][] uncond = new float[N][];
        int[] tokens = new int[N];
        for (int k = 0; k < K; k++) {
            int start = LAYOUT.scaleStart(k);
            int end = LAYOUT.scaleStart(k + 1);
            if (k == 0) {
                cond[0] = toy.embedding(LAYOUT.classToken(cls));
                uncond[0] = toy.embedding(LAYOUT.nullClassToken());
            } else {
                float[][] f = TOKENIZER.scaleInput(Arrays.copyOf(tokens, start), k);
                for (int c = 0; c < end - start; c++) {
                    float[] level = toy.embedding(LAYOUT.levelToken(k));
                    float[] x = new float[level.length];
                    for (int i = 0; i < x.length; i++) {
                        double acc = level[i];
                        for (int j = 0; j < LAYOUT.featureDim(); j++) {
                            acc += f[c][j] * (double) toy.embedding(LAYOUT.featureBasisToken(j))[i];
                        }
                        x[i] = (float) acc;
                    }
                    cond[start + c] = x;
                    uncond[start + c] = x;
                }
            }
            boolean[] visible = new boolean[end];
            Arrays.fill(visible, true);
            for (int c = 0; c < end - start; c++) {
                float[] logits = toy.logits(Arrays.copyOf(cond, end), start + c, visible);
                double weight = w.applyAsDouble(k);
                if (!Double.isNaN(weight)) {
                    logits = Guidance.combineWeighted(logits, toy.logits(Arrays.copyOf(uncond, end), start + c,
                            visible), weight, "toy");
                }
                Arrays.fill(logits, LAYOUT.codes(), logits.length, Float.NEGATIVE_INFINITY);
                tokens[start + c] = selector.select(logits, history).token();
            }
            for (int p = start; p < end; p++) {
                history.append(tokens[p]);
            }
        }
        return tokens;
    }

    @Test
    void oneForwardPerScaleWithTheScaleMaskAndEveryTokenOfTheImage() {
        ToyScaleBackend toy = toy(1);
        GenerationResult got = generator.generate(context(toy, 0, TestSelectors.INVERSE_CDF, 3, Map.of()),
                TokenSink.DISCARD);
        assertThat(got.tokens()).hasSize(N);
        assertThat(Arrays.stream(got.tokens()).allMatch(LAYOUT::isCode)).isTrue();
        assertThat(got.forwardPasses()).isEqualTo(K);
        assertThat(got.finishReason()).isEqualTo(FinishReason.STOP);
        List<ToyScaleBackend.Call> calls = toy.calls();
        assertThat(calls).hasSize(K);
        for (int k = 0; k < K; k++) {
            ToyScaleBackend.Call call = calls.get(k);
            assertThat(call.batch()).isEqualTo(2);
            assertThat(call.queries()).isEqualTo(LAYOUT.side(k) * LAYOUT.side(k));
            assertThat(call.stateBefore()).isEqualTo(LAYOUT.scaleStart(k));
            assertThat(call.embeddings()).isEqualTo(k > 0);
            AttentionSpec.Segments want = ScaleSegments.forScale(LAYOUT, k, 2);
            AttentionSpec.Segments spec = (AttentionSpec.Segments) call.attention();
            assertThat(spec.querySegment()).isDeepEqualTo(want.querySegment());
            assertThat(spec.keySegment()).isDeepEqualTo(want.keySegment());
        }
        assertThat(toy.openStates()).isZero();
    }

    /** The Fashion-MNIST VAR layout (scales 1, 2, 3, 4, 5, 7; 512 codes; vocabulary 545): 104 tokens, 6 forwards. */
    @Test
    void theFashionLayoutTakesSixForwardsForItsHundredAndFourTokens() {
        ImageLayout fashion = ToyImageTokenizer.layout(28, 512, 10, 16, 1, 2, 3, 4, 5, 7);
        assertThat(fashion.vocabSize()).isEqualTo(545);
        ToyScaleBackend toy = new ToyScaleBackend(fashion.vocabSize(), 16, 104, 5);
        RecordingSink sink = new RecordingSink();
        GenerationResult got = generator.generate(new GenerationContext(toy, new ToyImageTokenizer(fashion, 1),
                new int[] {fashion.classToken(7)}, 104, chain(TestSelectors.INVERSE_CDF), null, 1, Options.empty(),
                Cancellation.NEVER), sink);
        assertThat(got.tokens()).hasSize(104);
        assertThat(got.forwardPasses()).isEqualTo(6);
        assertThat(toy.calls()).extracting(ToyScaleBackend.Call::queries).containsExactly(1, 4, 9, 16, 25, 49);
        assertThat(sink.canvases()).hasSize(6);
    }

    @Test
    void inertGuidanceInEveryConventionIsUnguidedDecodingBitForBitWithoutAnUnconditionalRow() {
        List<Map<String, Object>> inert = List.of(Map.of("guidance_scale", 0.0),
                Map.of("cfg_convention", "llamagen", "guidance_scale", 1.0),
                Map.of("cfg_convention", "llada", "guidance_scale", 0.0, "cfg_ramp", "constant"));
        for (long seed = 0; seed < 6; seed++) {
            ToyScaleBackend toy = toy(seed);
            for (TokenSelector selector : List.of(TestSelectors.ARGMAX, TestSelectors.INVERSE_CDF)) {
                int[] want = reference(toy, (int) seed % 3, selector, seed, k -> Double.NaN);
                for (Map<String, Object> options : inert) {
                    int before = toy.calls().size();
                    GenerationResult got = generator.generate(context(toy, (int) seed % 3, selector, seed, options),
                            TokenSink.DISCARD);
                    assertThat(got.tokens()).as(options.toString()).isEqualTo(want);
                    assertThat(got.stats()).containsEntry("cfg.mode", "none").containsEntry("cfg.guided_steps", 0);
                    assertThat(toy.calls().subList(before, toy.calls().size())).hasSize(K)
                            .allMatch(c -> c.batch() == 1);
                }
            }
            assertThat(toy.openStates()).isZero();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"var", "llamagen", "llada"})
    void guidedImagesEqualTheGuidedReferenceInBothModes(String convention) {
        double scale = 2.5;
        for (long seed = 0; seed < 5; seed++) {
            ToyScaleBackend batch = toy(seed);
            ToyScaleBackend twoStates = toy(seed, Capability.BATCH);
            for (TokenSelector selector : List.of(TestSelectors.ARGMAX, TestSelectors.INVERSE_CDF)) {
                // the default ramp is linear over scales: parameter = inert + (scale - inert)·k/(K-1), the scale itself
                // at the last; scale 0 is inert (no combination)
                IntToDoubleFunction w = k -> {
                    return switch (convention) {
                        case "llamagen" -> k == 0 ? Double.NaN : k == K - 1 ? scale : 1 + (scale - 1) * k / (K - 1.0);
                        default -> k == 0 ? Double.NaN : (k == K - 1 ? scale : scale * k / (K - 1.0)) + 1;
                    };
                };
                int[] want = reference(batch, 2, selector, seed, w);
                Map<String, Object> options = Map.of("cfg_convention", convention, "guidance_scale", scale);
                GenerationResult a = generator.generate(context(batch, 2, selector, seed, options), TokenSink.DISCARD);
                GenerationResult b = generator.generate(context(twoStates, 2, selector, seed, options),
                        TokenSink.DISCARD);
                assertThat(a.tokens()).isEqualTo(want);
                assertThat(b.tokens()).isEqualTo(want);
                assertThat(a.forwardPasses()).isEqualTo(K);
                assertThat(b.forwardPasses()).isEqualTo(2 * K);
                assertThat(a.stats()).containsEntry("cfg.mode", "batch").containsEntry("cfg.guided_steps", K - 1);
                assertThat(b.stats()).containsEntry("cfg.mode", "two_states");
            }
            assertThat(batch.openStates()).isZero();
            assertThat(twoStates.openStates()).isZero();
        }
    }

    @Test
    void varsRampIsInertAtTheFirstScaleAndFullAtTheLast() {
        for (long seed = 0; seed < 5; seed++) {
            ToyScaleBackend toy = toy(seed);
            GenerationResult guided = generator.generate(context(toy, 1, TestSelectors.INVERSE_CDF, seed, Map.of()),
                    TokenSink.DISCARD);
            @SuppressWarnings("unchecked")
            List<Double> t = (List<Double>) guided.stats().get("cfg.parameters");
            assertThat(t).hasSize(K);
            assertThat(t.get(0)).isEqualTo(0.0);
            assertThat(t.get(K - 1)).isEqualTo(NextScaleGenerator.DEFAULT_GUIDANCE_SCALE);
            assertThat(guided.stats()).containsEntry("cfg.convention", "var").containsEntry("cfg.ramp", "linear");
            // t = 0 at scale 0: the first scale is the unguided one, draw for draw
            int[] unguided = reference(toy, 1, TestSelectors.INVERSE_CDF, seed, k -> Double.NaN);
            assertThat(guided.tokens()[0]).isEqualTo(unguided[0]);
            // and the last scale used t = cfg: (1 + cfg)·cond − cfg·uncond
            int[] full = reference(toy, 1, TestSelectors.INVERSE_CDF, seed,
                    k -> k == 0 ? Double.NaN : 1 + (k == K - 1 ? NextScaleGenerator.DEFAULT_GUIDANCE_SCALE
                            : NextScaleGenerator.DEFAULT_GUIDANCE_SCALE * k / (K - 1.0)));
            assertThat(guided.tokens()).isEqualTo(full);
        }
    }

    @Test
    void canvasesFollowScalesAndTokensStreamInOrder() {
        ToyScaleBackend toy = toy(4);
        RecordingSink sink = new RecordingSink();
        GenerationResult got = generator.generate(context(toy, 0, TestSelectors.INVERSE_CDF, 8, Map.of()), sink);
        assertThat(sink.tokens()).isEqualTo(got.tokens());
        assertThat(sink.canvases()).hasSize(K);
        for (int k = 0; k < K; k++) {
            RecordingSink.CanvasEvent canvas = sink.canvases().get(k);
            int decoded = LAYOUT.scaleStart(k + 1);
            assertThat(canvas.step()).isEqualTo(k + 1);
            assertThat(canvas.tokens()).hasSize(N);
            assertThat(Arrays.copyOf(canvas.tokens(), decoded)).isEqualTo(Arrays.copyOf(got.tokens(), decoded));
            for (int p = decoded; p < N; p++) {
                assertThat(canvas.tokens()[p]).isEqualTo(canvas.maskTokenId()).isEqualTo(LAYOUT.nullClassToken());
            }
        }
    }

    @Test
    void aSeedReproducesAnImageAndCancellationStopsBetweenScales() {
        ToyScaleBackend toy = toy(2);
        int[] first = generator.generate(context(toy, 0, TestSelectors.INVERSE_CDF, 42, Map.of()),
                TokenSink.DISCARD).tokens();
        assertThat(generator.generate(context(toy, 0, TestSelectors.INVERSE_CDF, 42, Map.of()), TokenSink.DISCARD)
                .tokens()).isEqualTo(first);
        boolean differs = false;
        for (long seed = 43; seed < 53 && !differs; seed++) {
            differs = !Arrays.equals(first, generator.generate(context(toy, 0, TestSelectors.INVERSE_CDF, seed,
                    Map.of()), TokenSink.DISCARD).tokens());
        }
        assertThat(differs).as("another seed draws another image").isTrue();
        int[] checks = {0};
        GenerationResult cancelled = generator.generate(new GenerationContext(toy, TOKENIZER,
                new int[] {LAYOUT.classToken(0)}, 64, chain(TestSelectors.INVERSE_CDF), null, 1, Options.empty(),
                () -> ++checks[0] > 2), TokenSink.DISCARD);
        assertThat(cancelled.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(cancelled.tokens()).hasSize(LAYOUT.scaleStart(2));
        assertThat(cancelled.forwardPasses()).isEqualTo(2);
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void refusesPriorsAndRequestsItCannotServe() {
        int[] cls = {LAYOUT.classToken(0)};
        for (Capability missing : List.of(Capability.SEGMENT_MASK, Capability.INPUT_EMBEDS,
                Capability.EMBEDDING_MATRIX)) {
            ToyScaleBackend toy = toy(0, missing);
            assertThatThrownBy(() -> generator.generate(context(toy, 0, TestSelectors.ARGMAX, 0, Map.of()),
                    TokenSink.DISCARD)).isInstanceOf(ArborException.class)
                    .hasMessageContaining("Capability." + missing).hasMessageContaining("toy-var");
            assertThat(toy.calls()).isEmpty();
        }
        ToyCausalBackend raster = ToyCausalBackend.builder().vocabSize(LAYOUT.vocabSize()).maxPositions(N).build();
        assertThatThrownBy(() -> generator.generate(context(raster, TOKENIZER, cls, chain(TestSelectors.ARGMAX), 0,
                Map.of()), TokenSink.DISCARD)).hasMessageContaining("SCALE_CAUSAL").hasMessageContaining("raster-ar");
        ToyScaleBackend toy = toy(0);
        assertThatThrownBy(() -> generator.generate(context(toy, null, cls, chain(TestSelectors.ARGMAX), 0, Map.of()),
                TokenSink.DISCARD)).hasMessageContaining("image tokenizer");
        assertThatThrownBy(() -> generator.generate(context(toy, TOKENIZER, new int[] {LAYOUT.classToken(0), 2},
                chain(TestSelectors.ARGMAX), 0, Map.of()), TokenSink.DISCARD))
                .hasMessageContaining("exactly one class token").hasMessageContaining("c0, c1, c2");
        assertThatThrownBy(() -> generator.generate(context(toy, 0, TestSelectors.ARGMAX, 0,
                Map.of("cfg_ramp", "quadratic")), TokenSink.DISCARD))
                .hasMessageContaining("cfg_ramp must be constant, linear or cosine");
        assertThat(toy.calls()).isEmpty();
    }
}
