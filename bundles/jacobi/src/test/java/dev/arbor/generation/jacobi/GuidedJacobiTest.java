package dev.arbor.generation.jacobi;

import static dev.arbor.generation.jacobi.TestSamplers.context;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.generation.raster.RasterArGenerator;
import dev.arbor.guidance.Guidance;
import dev.arbor.jacobi.JacobiDecoder;
import dev.arbor.jacobi.TokenRatioRule;
import dev.arbor.sampling.SamplingMath;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TokenHistoryBackend.ForwardCall;
import dev.arbor.testkit.ToyCausalBackend;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * SJD with classifier-free guidance rows (METHODS.md §3.1 and §3.2, as the SJD/GSD papers run it): a conditional and
 * an unconditional row fed the same window, each window row combined {@code uncond + s·(cond − uncond)} before the
 * processor chain, both rows rolled back together. Checked against a plain guided greedy autoregressive loop written
 * here (combine + argmax per token), by chi-square against the exact guided joint, and for bit-for-bit inertness at
 * {@code s = 1}; image mode (an {@link dev.arbor.api.image.ImageTokenizer} pipeline) on a toy image layout.
 */
class GuidedJacobiTest {
    private static final int SAMPLES = 100_000;
    /** The chi-square family: four consistency tests at 1% overall. */
    private static final double ALPHA = ChiSquare.bonferroni(0.01, 4);

    private final JacobiGenerator jacobi = new JacobiGenerator();

    /** The plain guided greedy AR loop: per token, combine the two rows' next-token logits and take the argmax. */
    static int[] guidedGreedy(ToyCausalBackend toy, int[] prompt, int[] uncond, double scale, int tokens,
                              int codes) {
        List<Integer> generated = new ArrayList<>();
        for (int t = 0; t < tokens; t++) {
            float[] c = toy.logitsFor(concat(prompt, generated));
            float[] u = toy.logitsFor(concat(uncond, generated));
            float[] g = Guidance.combineWeighted(c, u, scale, "toy");
            if (codes > 0) {
                Arrays.fill(g, codes, g.length, Float.NEGATIVE_INFINITY);
            }
            generated.add(SamplingMath.argmax(g));
        }
        return generated.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * (a) Greedy SJD with CFG rows equals the guided greedy AR loop token for token, on one batch-2 state, on two
     * states (no BATCH) and on the stateless path, for several windows and both draft schemes; contexts of different
     * lengths exercise the left padding.
     */
    @ParameterizedTest
    @ValueSource(ints = {2, 4, 16})
    void greedyWithCfgRowsEqualsGuidedGreedyAutoregression(int window) {
        int[] prompt = {3, 1, 4};
        int[] uncond = {0};
        long accepted = 0;
        for (long seed = 0; seed < 3; seed++) {
            for (boolean batch : new boolean[] {true, false}) {
                ToyCausalBackend.Builder b = ToyCausalBackend.builder().vocabSize(24).maxPositions(80).seed(seed)
                        .logitScale(2);
                ToyCausalBackend toy = batch ? b.build() : b.without(Capability.BATCH).build();
                int[] expected = guidedGreedy(toy, prompt, uncond, 3.0, 40, 0);
                for (Map<String, Object> extra : List.<Map<String, Object>>of(Map.of("init", "random"),
                        Map.of("init", "repeat"), Map.of("use_cache", false))) {
                    Map<String, Object> options = new HashMap<>(extra);
                    options.putAll(Map.of("window", window, "guidance_scale", 3.0, "negative_prompt_ids", uncond));
                    GenerationResult r = jacobi.generate(context(toy, prompt, 40, TestSamplers.greedy(), null, seed,
                            options), TokenSink.DISCARD);
                    assertThat(r.tokens()).as("batch %s, %s", batch, extra).containsExactly(expected);
                    assertThat(r.stats()).containsEntry("cfg.mode", batch && !extra.containsKey("use_cache")
                            ? "batch" : "two_states").containsEntry("cfg.unconditional", "negative_prompt_ids");
                    assertThat(r.stats().get("cfg.guided_rows")).isNotEqualTo(0);
                    accepted += (long) r.stats().get("speculative.accepted");
                }
                assertThat(toy.openStates()).isZero();
            }
            assertThat(guidedGreedy(ToyCausalBackend.builder().vocabSize(24).maxPositions(80).seed(seed)
                    .logitScale(2).build(), prompt, uncond, 1.0, 40, 0)).as("guidance changes the greedy output")
                    .isNotEqualTo(guidedGreedy(ToyCausalBackend.builder().vocabSize(24).maxPositions(80).seed(seed)
                            .logitScale(2).build(), prompt, uncond, 3.0, 40, 0));
        }
        assertThat(accepted).as("recycled drafts are accepted, so multi-token steps are compared").isPositive();
    }

    /**
     * The guided rows really run as the papers run them: one batch-2 forward per iteration after a padded batch-2
     * prefill, and after every rejection both rows hold exactly the accepted tokens (checked through the state
     * length the next forward starts from).
     */
    @Test
    void batchedRowsAreOneForwardPerIterationAndRollBackTogether() {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(6).maxPositions(64).seed(5).logitScale(3).build();
        int[] prompt = {1, 2, 3};
        GenerationResult r = jacobi.generate(context(toy, prompt, 30, TestSamplers.sampling(), null, 9,
                Map.of("window", 4, "guidance_scale", 2.0, "negative_prompt_ids", new int[] {0})), TokenSink.DISCARD);
        List<ForwardCall> calls = toy.calls();
        assertThat(r.forwardPasses()).isEqualTo(calls.size()).isEqualTo(r.stats().get("speculative.steps"));
        assertThat(calls.get(0)).isEqualTo(new ForwardCall(2, 3 + 3, 0, false, 8));
        for (int i = 1; i < calls.size(); i++) {
            ForwardCall previous = calls.get(i - 1);
            ForwardCall c = calls.get(i);
            assertThat(c.batchSize()).isEqualTo(2);
            assertThat(c.queryLength()).isBetween(1, 4);
            // Every iteration commits at least one token and the rollback keeps no rejected draft: the state grows
            // by 1..window slots per iteration, never by all it was fed unless every draft was accepted.
            assertThat(c.stateLengthBefore()).isGreaterThan(previous.stateLengthBefore())
                    .isLessThanOrEqualTo(previous.stateLengthBefore() + previous.queryLength());
        }
        ForwardCall last = calls.get(calls.size() - 1);
        assertThat(last.stateLengthBefore()).isLessThan(3 + 30);
        assertThat(r.tokens()).hasSize(30);
        assertThat(toy.openStates()).isZero();
    }

    /**
     * (d) Inert guidance ({@code guidance_scale} 1, the default) is today's single-row loop bit for bit: same tokens,
     * log-probabilities and forward calls as without the option, under sampling. And a guided run whose
     * unconditional context is the prompt itself (cond == uncond, so every combined row is the conditional one
     * bit for bit) draws the same tokens, which checks that both rows are fed and rolled back alike.
     */
    @Test
    void inertGuidanceIsTheSingleRowLoopBitForBit() {
        int[] prompt = {2, 7};
        for (long seed = 0; seed < 5; seed++) {
            ToyCausalBackend plainToy = ToyCausalBackend.builder().vocabSize(10).maxPositions(64).seed(seed)
                    .logitScale(3).build();
            ToyCausalBackend inertToy = ToyCausalBackend.builder().vocabSize(10).maxPositions(64).seed(seed)
                    .logitScale(3).build();
            ToyCausalBackend twinToy = ToyCausalBackend.builder().vocabSize(10).maxPositions(64).seed(seed)
                    .logitScale(3).build();
            GenerationResult plain = jacobi.generate(context(plainToy, prompt, 40, TestSamplers.sampling(), null,
                    seed, Map.of("window", 5)), TokenSink.DISCARD);
            GenerationResult inert = jacobi.generate(context(inertToy, prompt, 40, TestSamplers.sampling(), null,
                    seed, Map.of("window", 5, "guidance_scale", 1.0)), TokenSink.DISCARD);
            GenerationResult twin = jacobi.generate(context(twinToy, prompt, 40, TestSamplers.sampling(), null,
                    seed, Map.of("window", 5, "guidance_scale", 4.0, "negative_prompt_ids", prompt)),
                    TokenSink.DISCARD);
            assertThat(inert.tokens()).containsExactly(plain.tokens());
            assertThat(inert.logProbs()).containsExactly(plain.logProbs());
            assertThat(inertToy.calls()).isEqualTo(plainToy.calls());
            assertThat(inert.stats()).doesNotContainKey("cfg.mode").containsEntry("speculative.steps",
                    plain.stats().get("speculative.steps"));
            assertThat(twin.tokens()).containsExactly(plain.tokens());
            assertThat(twin.stats()).containsEntry("cfg.mode", "batch");
            assertThat(twinToy.calls()).allSatisfy(c -> assertThat(c.batchSize()).isEqualTo(2));
        }
    }

    /**
     * (b) Exactness with CFG rows: sampled sequences follow the guided joint, the product over steps of
     * {@code p(x|c)^s·p(x)^(1−s)} renormalised (computed here in double from the toy's logits), at W = 2 and 4, on
     * one batch-2 state and on two states. Power: the same samples are rejected against the unguided joint and
     * against the joint of a scale off by 0.5.
     */
    @Test
    void cfgRowsFollowTheGuidedJointExactly() {
        int[] prompt = {0, 1};
        int[] uncond = {2};
        int length = 4;
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(3).maxPositions(16).seed(21).logitScale(1.5)
                .build();
        ToyCausalBackend twoStates = ToyCausalBackend.builder().vocabSize(3).maxPositions(16).seed(21)
                .logitScale(1.5).without(Capability.BATCH).build();
        Map<List<Integer>, Double> guided = guidedJoint(toy, prompt, uncond, 3.0, length);
        Map<List<Integer>, Double> unguided = guidedJoint(toy, prompt, uncond, 1.0, length);
        Map<List<Integer>, Double> offScale = guidedJoint(toy, prompt, uncond, 2.5, length);

        Map<List<Integer>, Long> w2 = sample(toy, prompt, uncond, 3.0, 2, length, 1);
        ChiSquare.assertConsistent(ChiSquare.test(guided, w2), ALPHA);
        Map<List<Integer>, Long> w4 = sample(toy, prompt, uncond, 3.0, 4, length, 2);
        ChiSquare.assertConsistent(ChiSquare.test(guided, w4), ALPHA);
        Map<List<Integer>, Long> separate = sample(twoStates, prompt, uncond, 3.0, 4, length, 3);
        ChiSquare.assertConsistent(ChiSquare.test(guided, separate), ALPHA);

        ChiSquare.Result vsUnguided = ChiSquare.test(unguided, w4);
        assertThat(vsUnguided.pValue()).as("chi2=%s", vsUnguided.statistic()).isLessThan(ALPHA);
        ChiSquare.Result vsOffScale = ChiSquare.test(offScale, w4);
        assertThat(vsOffScale.pValue()).as("chi2=%s", vsOffScale.statistic()).isLessThan(ALPHA);
        assertThat(toy.openStates()).isZero();
        assertThat(twoStates.openStates()).isZero();
    }

    /**
     * (b) for an image request: a 2x2 image over 3 codes (81 outcomes), class prompt, null-class row, non-code ids
     * masked per window row and fresh drafts uniform over the codes; the guided joint over codes only is matched.
     */
    @Test
    void imageCfgRowsFollowTheGuidedJointOverCodes() {
        ToyImageTokenizer images = new ToyImageTokenizer(ToyImageTokenizer.layout(2, 3, 2, 1, 2), 0);
        var layout = images.layout();
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(layout.vocabSize()).maxPositions(8).seed(8)
                .logitScale(1.5).build();
        int[] prompt = {layout.classToken(1)};
        int[] uncond = {layout.nullClassToken()};
        Map<List<Integer>, Double> expected = new LinkedHashMap<>();
        expandCodes(toy, prompt, uncond, 3.0, 4, layout.codes(), new ArrayList<>(), 1.0, expected);
        Map<List<Integer>, Long> counts = new HashMap<>();
        long accepted = 0;
        for (int i = 0; i < SAMPLES; i++) {
            GenerationResult r = jacobi.generate(imageContext(toy, images, prompt, 100, TestSamplers.sampling(),
                    4_000_037L + i, Map.of("window", 3, "guidance_scale", 3.0)), TokenSink.DISCARD);
            counts.merge(Arrays.stream(r.tokens()).boxed().toList(), 1L, Long::sum);
            accepted += (long) r.stats().get("speculative.accepted");
        }
        assertThat(accepted).isPositive();
        ChiSquare.assertConsistent(ChiSquare.test(expected, counts), ALPHA);
    }

    /** As {@link #expand} with every id from {@code codes} on excluded before renormalising. */
    private static void expandCodes(ToyCausalBackend toy, int[] prompt, int[] uncond, double scale, int length,
                                    int codes, List<Integer> prefix, double mass, Map<List<Integer>, Double> out) {
        if (prefix.size() == length) {
            out.put(List.copyOf(prefix), mass);
            return;
        }
        double[] pc = SamplingMath.softmax(toy.logitsFor(concat(prompt, prefix)));
        double[] pu = SamplingMath.softmax(toy.logitsFor(concat(uncond, prefix)));
        double[] g = new double[codes];
        double sum = 0;
        for (int v = 0; v < codes; v++) {
            g[v] = Math.pow(pc[v], scale) * Math.pow(pu[v], 1 - scale);
            sum += g[v];
        }
        for (int v = 0; v < codes; v++) {
            prefix.add(v);
            expandCodes(toy, prompt, uncond, scale, length, codes, prefix, mass * g[v] / sum, out);
            prefix.remove(prefix.size() - 1);
        }
    }

    private static Map<List<Integer>, Long> sample(ToyCausalBackend toy, int[] prompt, int[] uncond, double scale,
                                                   int window, int length, long stream) {
        Map<List<Integer>, Long> counts = new HashMap<>();
        long accepted = 0;
        for (int i = 0; i < SAMPLES; i++) {
            GenerationResult r = JacobiDecoder.generate(context(toy, prompt, length, TestSamplers.sampling(), null,
                    stream * 1_000_003L + i, Map.of("window", window, "guidance_scale", scale,
                            "negative_prompt_ids", uncond)), TokenSink.DISCARD, TokenRatioRule.INSTANCE);
            assertThat(r.tokens()).hasSize(length);
            counts.merge(Arrays.stream(r.tokens()).boxed().toList(), 1L, Long::sum);
            accepted += (long) r.stats().get("speculative.accepted");
        }
        assertThat(accepted).as("drafts are accepted, so multi-token steps are tested").isPositive();
        return counts;
    }

    /** The exact joint of {@code length} guided ancestral steps, in double. */
    static Map<List<Integer>, Double> guidedJoint(ToyCausalBackend toy, int[] prompt, int[] uncond, double scale,
                                                  int length) {
        Map<List<Integer>, Double> out = new LinkedHashMap<>();
        expand(toy, prompt, uncond, scale, length, new ArrayList<>(), 1.0, out);
        return out;
    }

    private static void expand(ToyCausalBackend toy, int[] prompt, int[] uncond, double scale, int length,
                               List<Integer> prefix, double mass, Map<List<Integer>, Double> out) {
        if (prefix.size() == length) {
            out.put(List.copyOf(prefix), mass);
            return;
        }
        double[] pc = SamplingMath.softmax(toy.logitsFor(concat(prompt, prefix)));
        double[] pu = SamplingMath.softmax(toy.logitsFor(concat(uncond, prefix)));
        double[] g = new double[pc.length];
        double sum = 0;
        for (int v = 0; v < g.length; v++) {
            g[v] = Math.pow(pc[v], scale) * Math.pow(pu[v], 1 - scale);
            sum += g[v];
        }
        for (int v = 0; v < g.length; v++) {
            prefix.add(v);
            expand(toy, prompt, uncond, scale, length, prefix, mass * g[v] / sum, out);
            prefix.remove(prefix.size() - 1);
        }
    }

    /**
     * Image mode (2): the prompt is one class token, the unconditional row the null class, exactly tokensPerImage
     * codes and nothing else; greedy equals the guided greedy loop over codes only (and raster-ar's image), with
     * random and repeat_horizon drafts, at window 16 by default; canvases per image row as raster-ar streams them.
     */
    @Test
    void imageRequestsGenerateExactlyOneImageOfCodesWithTheNullClassAsUnconditionalRow() {
        ToyImageTokenizer images = new ToyImageTokenizer(ToyImageTokenizer.layout(4, 12, 3, 1, 4), 0);
        var layout = images.layout();
        for (long seed = 0; seed < 3; seed++) {
            ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(layout.vocabSize()).maxPositions(40)
                    .seed(seed).logitScale(3).build();
            int[] prompt = {layout.classToken(1)};
            int[] expected = guidedGreedy(toy, prompt, new int[] {layout.nullClassToken()}, 3.0,
                    layout.tokensPerImage(), layout.codes());
            assertThat(new RasterArGenerator().generate(imageContext(toy, images, prompt, 100, TestSamplers.greedy(),
                    seed, Map.of("guidance_scale", 3.0)), TokenSink.DISCARD).tokens())
                    .as("the raster-ar generator's guided greedy image").containsExactly(expected);
            for (String init : List.of("random", "repeat_horizon")) {
                GenerationResult r = jacobi.generate(imageContext(toy, images, prompt, 100, TestSamplers.greedy(),
                        seed, Map.of("guidance_scale", 3.0, "draft_init", init)), TokenSink.DISCARD);
                assertThat(r.tokens()).containsExactly(expected);
                assertThat(r.stats()).containsEntry("cfg.unconditional", "null_class")
                        .containsEntry("image.tokens", 16).containsEntry("jacobi.window", 16);
            }
            GenerationResult sampled = jacobi.generate(imageContext(toy, images, prompt, 100,
                    TestSamplers.sampling(), seed, Map.of("guidance_scale", 3.0)), TokenSink.DISCARD);
            assertThat(sampled.tokens()).hasSize(16);
            assertThat(Arrays.stream(sampled.tokens()).allMatch(layout::isCode)).isTrue();
            // Stop tokens do not cut an image short, even when a card lists a code as EOS; by default an image is
            // guided at raster-ar's scale, and inert guidance runs one row.
            RecordingSink canvases = new RecordingSink();
            GenerationResult byDefault = jacobi.generate(new GenerationContext(toy, images, prompt, 100,
                    TestSamplers.sampling(), new int[] {1, 2, 3}, seed, Options.empty(), Cancellation.NEVER),
                    canvases);
            assertThat(byDefault.tokens()).hasSize(16);
            assertThat(Arrays.stream(byDefault.tokens()).allMatch(layout::isCode)).isTrue();
            assertThat(byDefault.stats()).containsEntry("cfg.scale", 2.0).containsEntry("cfg.mode", "batch");
            // One canvas per image row (side 4): the decoded prefix, the null class id after it.
            assertThat(canvases.canvases()).hasSize(4);
            for (int r = 0; r < 4; r++) {
                RecordingSink.CanvasEvent c = canvases.canvases().get(r);
                assertThat(c.step()).isEqualTo(r + 1);
                assertThat(c.maskTokenId()).isEqualTo(layout.nullClassToken());
                assertThat(Arrays.copyOf(c.tokens(), 4 * (r + 1))).containsExactly(Arrays.copyOf(byDefault.tokens(),
                        4 * (r + 1)));
                assertThat(Arrays.stream(c.tokens(), 4 * (r + 1), 16).allMatch(t -> t == layout.nullClassToken()))
                        .isTrue();
            }
            assertThat(canvases.tokens()).containsExactly(byDefault.tokens());
            GenerationResult unguided = jacobi.generate(imageContext(toy, images, prompt, 100,
                    TestSamplers.sampling(), seed, Map.of("guidance_scale", 1.0)), TokenSink.DISCARD);
            assertThat(unguided.tokens()).hasSize(16);
            assertThat(unguided.stats()).doesNotContainKey("cfg.mode");
            assertThat(images.decodeImage(sampled.tokens())).hasDimensions(4, 4);
            assertThat(toy.openStates()).isZero();
        }
    }

    @Test
    void imageRequestsAreValidatedBeforeAnyForward() {
        ToyImageTokenizer images = new ToyImageTokenizer(ToyImageTokenizer.layout(4, 12, 3, 1, 4), 0);
        var layout = images.layout();
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(layout.vocabSize()).maxPositions(40).build();
        assertThatThrownBy(() -> jacobi.generate(imageContext(toy, images, new int[] {3}, 100,
                TestSamplers.greedy(), 0, Map.of()), TokenSink.DISCARD)).isInstanceOf(ArborException.class)
                .hasMessageContaining("one class token").hasMessageContaining("c0, c1, c2");
        assertThatThrownBy(() -> jacobi.generate(imageContext(toy, images, new int[] {layout.classToken(0)}, 10,
                TestSamplers.greedy(), 0, Map.of()), TokenSink.DISCARD)).isInstanceOf(ArborException.class)
                .hasMessageContaining("16 tokens").hasMessageContaining("allows 10");
        assertThatThrownBy(() -> jacobi.generate(imageContext(toy, images, new int[] {layout.classToken(0)}, 100,
                TestSamplers.greedy(), 0, Map.of("guidance_scale", 2, "negative_prompt", "x")), TokenSink.DISCARD))
                .isInstanceOf(ArborException.class).hasMessageContaining("negative_prompt_ids");
        ToyCausalBackend small = ToyCausalBackend.builder().vocabSize(layout.vocabSize() - 1).maxPositions(40).build();
        assertThatThrownBy(() -> jacobi.generate(imageContext(small, images, new int[] {layout.classToken(0)}, 100,
                TestSamplers.greedy(), 0, Map.of()), TokenSink.DISCARD)).isInstanceOf(ArborException.class)
                .hasMessageContaining("do not belong together");
        assertThatThrownBy(() -> jacobi.generate(context(toy, new int[] {1}, 10, TestSamplers.greedy(), null, 0,
                Map.of("init", "random", "draft_init", "repeat_horizon")), TokenSink.DISCARD))
                .isInstanceOf(ArborException.class).hasMessageContaining("draft_init");
        assertThatThrownBy(() -> jacobi.generate(context(toy, new int[] {1}, 10, TestSamplers.greedy(), null, 0,
                Map.of("guidance_scale", 3.0)), TokenSink.DISCARD)).isInstanceOf(ArborException.class)
                .hasMessageContaining("negative_prompt");
        assertThat(toy.forwardCalls()).isZero();
    }

    private static GenerationContext imageContext(ModelBackend model, ToyImageTokenizer tokenizer, int[] prompt,
                                                  int maxNewTokens, Supplier<Sampler> chain, long seed,
                                                  Map<String, ?> options) {
        return new GenerationContext(model, tokenizer, prompt, maxNewTokens, chain, null, seed, Options.of(options),
                Cancellation.NEVER);
    }

    private static int[] concat(int[] head, List<Integer> tail) {
        int[] out = Arrays.copyOf(head, head.length + tail.size());
        for (int i = 0; i < tail.size(); i++) {
            out[head.length + i] = tail.get(i);
        }
        return out;
    }
}
