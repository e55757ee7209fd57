package dev.arbor.generation.vfprompt;

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
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.generation.raster.RasterArGenerator;
import dev.arbor.guidance.Guidance;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.TokenHistoryBackend.ForwardCall;
import dev.arbor.testkit.ToyCausalBackend;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class VfPromptGeneratorTest {
    /** 3x3 raster token map, 8 codes, 3 classes: layout ids 0..14; then 6 VF ids 15..20. */
    static final ImageLayout LAYOUT = ToyImageTokenizer.layout(6, 8, 3, 2, 3);
    static final ToyImageTokenizer TOKENIZER = new ToyImageTokenizer(LAYOUT, 7);
    static final int N = LAYOUT.tokensPerImage();
    static final int VF_CODES = 6;
    static final int VOCAB = LAYOUT.vocabSize() + VF_CODES;
    static final int V = 3;

    private final VfPromptGenerator generator = new VfPromptGenerator();

    /** A toy prior with VF ids after the layout and room for {@code vf} prompt tokens. */
    static ToyCausalBackend toy(long seed, int vocab, int vf, Capability... without) {
        return ToyCausalBackend.builder().vocabSize(vocab).maxPositions(N + vf).seed(seed).without(without).build();
    }

    static GenerationContext context(ToyCausalBackend model, int cls, TokenSelector selector, long seed,
                                     Map<String, ?> options, Cancellation cancellation) {
        return new GenerationContext(model, TOKENIZER, new int[] {LAYOUT.classToken(cls)}, 64,
                () -> new Sampler(List.of(), selector), null, seed, Options.of(options), cancellation);
    }

    static GenerationContext context(ToyCausalBackend model, int cls, TokenSelector selector, long seed,
                                     Map<String, ?> options) {
        return context(model, cls, selector, seed, options, Cancellation.NEVER);
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** The reference's output: the VF ids drawn and the image's codes. */
    record Drawn(int[] vf, int[] codes) {
    }

    /**
     * An independent reference from the toy's pure function: the sequence {@code [class, vf.., codes..]}, the
     * unconditional row {@code [null, vf.., codes..]} combined with weight {@code w} (NaN = none), the VF steps
     * restricted to ids {@code [offset, offset + codes)}, the code steps to codes, the selector on a history seeded
     * like the request's that holds the class and the codes (VF tokens are never emitted).
     */
    static Drawn reference(ToyCausalBackend toy, int cls, TokenSelector selector, long seed, double w, int vfTokens,
                           int offset, int vfCodes) {
        int[] cond = {LAYOUT.classToken(cls)};
        SamplingContext history = SamplingContext.seeded(cond, toy.card().vocabSize(), seed);
        int[] seq = new int[0];
        int[] vf = new int[vfTokens];
        int[] codes = new int[N];
        for (int k = 0; k < vfTokens + N; k++) {
            float[] logits = toy.logitsFor(concat(cond, seq));
            if (!Double.isNaN(w)) {
                logits = Guidance.combineWeighted(logits, toy.logitsFor(concat(new int[] {LAYOUT.nullClassToken()},
                        seq)), w, "toy");
            }
            boolean prompt = k < vfTokens;
            for (int v = 0; v < logits.length; v++) {
                boolean allowed = prompt ? v >= offset && v < offset + vfCodes : v < LAYOUT.codes();
                if (!allowed) {
                    logits[v] = Float.NEGATIVE_INFINITY;
                }
            }
            int token = selector.select(logits, history).token();
            if (prompt) {
                vf[k] = token;
            } else {
                codes[k - vfTokens] = token;
                history.append(token);
            }
            seq = concat(seq, new int[] {token});
        }
        return new Drawn(vf, codes);
    }

    @Test
    void zeroVfTokensIsRasterArTokenForTokenWithAndWithoutGuidanceInBothModes() {
        RasterArGenerator raster = new RasterArGenerator();
        for (long seed = 0; seed < 6; seed++) {
            for (Capability[] without : List.of(new Capability[0], new Capability[] {Capability.BATCH})) {
                ToyCausalBackend toy = toy(seed, LAYOUT.vocabSize(), 0, without);
                for (Map<String, Object> options : List.<Map<String, Object>>of(Map.of("guidance_scale", 1.0),
                        Map.of("guidance_scale", 2.5), Map.of("cfg_convention", "var", "guidance_scale", 1.5,
                                "cfg_ramp", "linear"))) {
                    Map<String, Object> zero = new HashMap<>(options);
                    zero.put("vf_tokens", 0);
                    for (TokenSelector selector : List.of(TestSelectors.ARGMAX, TestSelectors.INVERSE_CDF)) {
                        GenerationResult want = raster.generate(context(toy, 2, selector, seed, options),
                                TokenSink.DISCARD);
                        GenerationResult got = generator.generate(context(toy, 2, selector, seed, zero),
                                TokenSink.DISCARD);
                        assertThat(got.tokens()).as("%s %s", options, selector).isEqualTo(want.tokens());
                        assertThat(got.logProbs()).isEqualTo(want.logProbs());
                        assertThat(got.forwardPasses()).isEqualTo(want.forwardPasses());
                        assertThat(got.finishReason()).isEqualTo(FinishReason.STOP);
                        assertThat(got.stats()).containsEntry("cfg.mode", want.stats().get("cfg.mode"))
                                .containsEntry("cfg.guided_steps", want.stats().get("cfg.guided_steps"))
                                .containsEntry("vf.tokens", 0).containsEntry("vf.prompt", List.of());
                    }
                }
                assertThat(toy.openStates()).isZero();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(doubles = {1.0, 1.75})
    void vfPromptedImagesEqualTheReferenceAndOnlyCodesAreEmitted(double scale) {
        for (long seed = 0; seed < 6; seed++) {
            for (Capability[] without : List.of(new Capability[0], new Capability[] {Capability.BATCH})) {
                ToyCausalBackend toy = toy(seed, VOCAB, V, without);
                boolean batch = without.length == 0;
                for (TokenSelector selector : List.of(TestSelectors.ARGMAX, TestSelectors.INVERSE_CDF)) {
                    Drawn want = reference(toy, 1, selector, seed, scale == 1.0 ? Double.NaN : scale, V,
                            LAYOUT.vocabSize(), VF_CODES);
                    RecordingSink sink = new RecordingSink();
                    int before = toy.calls().size();
                    GenerationResult got = generator.generate(context(toy, 1, selector, seed,
                            Map.of("guidance_scale", scale, "vf_tokens", V)), sink);
                    assertThat(got.tokens()).isEqualTo(want.codes());
                    assertThat(got.stats().get("vf.prompt")).isEqualTo(Arrays.stream(want.vf()).boxed().toList());
                    assertThat(Arrays.stream(want.vf()).allMatch(t -> t >= LAYOUT.vocabSize() && t < VOCAB)).isTrue();
                    // the VF tokens never reach the output: the sink and the result hold the N codes only
                    assertThat(sink.tokens()).isEqualTo(want.codes()).hasSize(N);
                    assertThat(Arrays.stream(sink.tokens()).allMatch(t -> t >= 0 && t < LAYOUT.codes())).isTrue();
                    assertThat(got.finishReason()).isEqualTo(FinishReason.STOP);
                    // one prefill of the class token, one forward per VF token, one per code but the last
                    int perToken = scale == 1.0 || batch ? 1 : 2;
                    assertThat(got.forwardPasses()).isEqualTo(perToken * (1 + V + N - 1));
                    assertThat(toy.calls().size() - before).isEqualTo(perToken * (1 + V + N - 1));
                    List<ForwardCall> calls = toy.calls().subList(before, toy.calls().size());
                    assertThat(calls).allMatch(c -> c.batchSize() == (scale != 1.0 && batch ? 2 : 1));
                    // a canvas per image row, never showing a VF id
                    assertThat(sink.canvases()).hasSize(LAYOUT.side(0));
                    assertThat(sink.canvases()).allSatisfy(c -> assertThat(Arrays.stream(c.tokens())
                            .allMatch(t -> t < LAYOUT.codes() || t == LAYOUT.nullClassToken())).isTrue());
                    assertThat(got.stats()).containsEntry("vf.tokens", V)
                            .containsEntry("vf.offset", LAYOUT.vocabSize()).containsEntry("vf.codes", VF_CODES)
                            .containsEntry("cfg.guided_steps", scale == 1.0 ? 0 : V + N);
                }
                assertThat(toy.openStates()).isZero();
            }
        }
    }

    @Test
    void aNarrowerVfRangeIsHonoured() {
        ToyCausalBackend toy = toy(3, VOCAB, V);
        int offset = LAYOUT.vocabSize() + 2;
        Drawn want = reference(toy, 0, TestSelectors.INVERSE_CDF, 9, 2.0, V, offset, 3);
        GenerationResult got = generator.generate(context(toy, 0, TestSelectors.INVERSE_CDF, 9,
                Map.of("vf_tokens", V, "vf_offset", offset, "vf_codes", 3)), TokenSink.DISCARD);
        assertThat(got.tokens()).isEqualTo(want.codes());
        assertThat(got.stats().get("vf.prompt")).isEqualTo(Arrays.stream(want.vf()).boxed().toList());
    }

    @Test
    void cancellationIsCheckedDuringTheVfPromptToo() {
        ToyCausalBackend toy = toy(1, VOCAB, V);
        int[] checks = {0};
        GenerationResult r = generator.generate(context(toy, 0, TestSelectors.ARGMAX, 1, Map.of("vf_tokens", V),
                () -> ++checks[0] > 2), TokenSink.DISCARD);
        assertThat(r.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(r.tokens()).isEmpty();
        assertThat(r.forwardPasses()).isEqualTo(2);
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void optionsAreCheckedAgainstThePriorWithActionableMessages() {
        ToyCausalBackend vfPrior = toy(0, VOCAB, V);
        ToyCausalBackend plain = toy(0, LAYOUT.vocabSize(), V);
        record Case(ToyCausalBackend model, Map<String, Object> options, ArborException.Kind kind, String message) {
        }
        List<Case> cases = List.of(
                new Case(plain, Map.of(), ArborException.Kind.INCOMPATIBLE, "no VF ids"),
                new Case(plain, Map.of("vf_tokens", 2), ArborException.Kind.INCOMPATIBLE, "set vf_tokens 0"),
                new Case(vfPrior, Map.of("vf_tokens", V + 1), ArborException.Kind.INVALID_INPUT,
                        "use at most " + V),
                new Case(vfPrior, Map.of("vf_tokens", -1), ArborException.Kind.INVALID_INPUT, "vf_tokens"),
                new Case(vfPrior, Map.of("vf_tokens", "many"), ArborException.Kind.INVALID_INPUT,
                        "must be an integer"),
                new Case(vfPrior, Map.of("vf_offset", 3, "vf_tokens", V), ArborException.Kind.INVALID_INPUT,
                        "use " + LAYOUT.vocabSize() + "-" + (VOCAB - 1)),
                new Case(vfPrior, Map.of("vf_offset", VOCAB, "vf_tokens", V), ArborException.Kind.INVALID_INPUT,
                        "vf_offset"),
                new Case(vfPrior, Map.of("vf_offset", 2.5, "vf_tokens", V), ArborException.Kind.INVALID_INPUT,
                        "must be an integer"),
                new Case(vfPrior, Map.of("vf_codes", VF_CODES + 1, "vf_tokens", V), ArborException.Kind.INVALID_INPUT,
                        "use at most " + VF_CODES),
                new Case(vfPrior, Map.of("vf_codes", 0, "vf_tokens", V), ArborException.Kind.INVALID_INPUT, "vf_codes"),
                new Case(vfPrior, Map.of("guidance_scale", "strong", "vf_tokens", V), ArborException.Kind.INVALID_INPUT,
                        "guidance_scale"));
        for (Case c : cases) {
            int before = c.model().calls().size();
            assertThatThrownBy(() -> generator.generate(context(c.model(), 0, TestSelectors.ARGMAX, 0, c.options()),
                    TokenSink.DISCARD)).as(c.options().toString()).isInstanceOf(ArborException.class)
                    .hasMessageContaining(c.message())
                    .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(c.kind()));
            assertThat(c.model().calls().size()).as("no forward before the checks").isEqualTo(before);
        }
        // the plain prior decodes with vf_tokens 0, and the VF prior with the defaults (VF ids right after the layout)
        assertThat(generator.generate(context(plain, 0, TestSelectors.ARGMAX, 0, Map.of("vf_tokens", 0)),
                TokenSink.DISCARD).tokens()).hasSize(N);
        ToyCausalBackend five = toy(0, VOCAB, VfPrompt.DEFAULT_TOKENS);
        assertThat(generator.generate(context(five, 0, TestSelectors.ARGMAX, 0, Map.of()), TokenSink.DISCARD)
                .stats()).containsEntry("vf.tokens", VfPrompt.DEFAULT_TOKENS)
                .containsEntry("vf.offset", LAYOUT.vocabSize()).containsEntry("vf.codes", VF_CODES);
    }
}
