package dev.arbor.generation.cfg;

import static dev.arbor.generation.cfg.Samplers.context;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.testkit.TokenHistoryBackend.ForwardCall;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ClassifierFreeGuidanceGeneratorTest {
    private final ClassifierFreeGuidanceGenerator cfg = new ClassifierFreeGuidanceGenerator();
    private final AutoregressiveGenerator unguided = new AutoregressiveGenerator();

    private static ToyCausalBackend toy(long seed) {
        return ToyCausalBackend.builder().vocabSize(24).seed(seed).bos(1).eos(0, 0.3).build();
    }

    @Test
    void scaleOneEqualsUnguidedTokenForTokenGreedyAndSampled() {
        int[][] prompts = {{1}, {1, 5, 9}, {1, 3, 3, 7, 2, 11}};
        for (long seed = 0; seed < 12; seed++) {
            ToyCausalBackend toy = toy(seed);
            for (int[] prompt : prompts) {
                for (Supplier<Sampler> chain : List.of(Samplers.greedy(), Samplers.sampling())) {
                    GenerationResult want = unguided.generate(context(toy, prompt, 20, chain, new int[] {0}, seed,
                            Map.of()), TokenSink.DISCARD);
                    GenerationResult got = cfg.generate(context(toy, prompt, 20, chain, new int[] {0}, seed,
                            Map.of("guidance_scale", 1.0)), TokenSink.DISCARD);
                    assertThat(got.tokens()).isEqualTo(want.tokens());
                    assertThat(got.logProbs()).isEqualTo(want.logProbs());
                    assertThat(got.finishReason()).isEqualTo(want.finishReason());
                    // s = 1 runs no unconditional row at all: the cost is the unguided cost.
                    assertThat(got.forwardPasses()).isEqualTo(want.forwardPasses());
                    assertThat(got.stats()).containsEntry("cfg.mode", "none").containsEntry("cfg.uncond_forwards", 0);
                }
            }
            assertThat(toy.openStates()).isZero();
        }
    }

    /**
     * With the prompt itself as the unconditional context the two rows are equal at every step, so every scale must
     * give the unguided output exactly; unlike s = 1 this runs the whole two-row machinery (fork or batch, appending
     * to both rows) and would catch a row that falls out of step.
     */
    @ParameterizedTest
    @ValueSource(strings = {"fork", "batch"})
    void equalConditionalAndUnconditionalRowsAreTheIdentityForAnyScale(String mode) {
        for (long seed = 0; seed < 6; seed++) {
            ToyCausalBackend toy = toy(seed);
            int[] prompt = {1, 4, 8, 15};
            for (double s : new double[] {0, 0.5, 1.5, 3, 7.5}) {
                for (Supplier<Sampler> chain : List.of(Samplers.greedy(), Samplers.sampling())) {
                    GenerationResult want = unguided.generate(context(toy, prompt, 16, chain, null, seed, Map.of()),
                            TokenSink.DISCARD);
                    GenerationResult got = cfg.generate(context(toy, prompt, 16, chain, null, seed, Map.of(
                            "guidance_scale", s, "negative_prompt_ids", List.of(1, 4, 8, 15), "mode", mode)),
                            TokenSink.DISCARD);
                    assertThat(got.tokens()).isEqualTo(want.tokens());
                    assertThat(got.logProbs()).isEqualTo(want.logProbs());
                    assertThat(got.stats()).containsEntry("cfg.mode", mode).containsEntry("cfg.guided_tokens", 16);
                    assertThat((int) got.stats().get("cfg.uncond_forwards")).isPositive();
                }
            }
            assertThat(toy.openStates()).isZero();
        }
    }

    @Test
    void guidanceReallyChangesTheOutput() {
        int changed = 0;
        for (long seed = 0; seed < 10; seed++) {
            ToyCausalBackend toy = toy(seed);
            int[] prompt = {1, 6, 2};
            int[] plain = unguided.generate(context(toy, prompt, 12, Samplers.greedy(), null, 0, Map.of()),
                    TokenSink.DISCARD).tokens();
            int[] guided = cfg.generate(context(toy, prompt, 12, Samplers.greedy(), null, 0,
                    Map.of("guidance_scale", 3.0)), TokenSink.DISCARD).tokens();
            changed += Arrays.equals(plain, guided) ? 0 : 1;
        }
        assertThat(changed).isGreaterThan(5);
    }

    /**
     * Every combined row the chain sees equals the combination of two stateless full recomputes (prompt + generated
     * and unconditional context + generated): the forked states, the batch-2 state with padding, and the appends
     * to both rows are exact. ToyCausalBackend's logits depend on the visible tokens only, so equality is exact.
     */
    @ParameterizedTest
    @ValueSource(strings = {"fork", "batch"})
    void cachedRowsEqualAStatelessRecomputeOfBothRows(String mode) {
        ToyCausalBackend toy = toy(7);
        int[] prompt = {1, 3, 5, 7, 9};
        int[][] negatives = {null, {1, 3, 6}, {2, 3}, {1, 3, 5, 7, 9, 11, 13}};
        for (int[] negative : negatives) {
            List<float[]> rows = Samplers.newRecord();
            Map<String, Object> options = negative == null ? Map.of("guidance_scale", 2.5, "mode", mode)
                    : Map.of("guidance_scale", 2.5, "mode", mode, "negative_prompt_ids",
                    Arrays.stream(negative).boxed().toList());
            GenerationResult r = cfg.generate(context(toy, prompt, 10, Samplers.recording(rows,
                    Samplers.INVERSE_CDF), null, 3, options), TokenSink.DISCARD);
            int[] uncond = negative == null ? new int[] {1} : negative;
            assertThat(rows).hasSize(10);
            for (int k = 0; k < rows.size(); k++) {
                float[] c = toy.logitsFor(concat(prompt, Arrays.copyOf(r.tokens(), k)));
                float[] u = toy.logitsFor(concat(uncond, Arrays.copyOf(r.tokens(), k)));
                float[] want = new float[c.length];
                for (int v = 0; v < want.length; v++) {
                    want[v] = (float) (c[v] + 1.5 * ((double) c[v] - u[v]));
                }
                assertThat(rows.get(k)).as("step %d, unconditional %s", k, Arrays.toString(uncond))
                        .isEqualTo(want);
            }
        }
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void forkModePrefillsTheSharedPrefixOnceThenFeedsBothStatesOneTokenPerStep() {
        ToyCausalBackend toy = toy(1);
        GenerationResult r = cfg.generate(context(toy, new int[] {1, 2, 3, 4}, 5, Samplers.greedy(), null, 0,
                Map.of("mode", "fork", "negative_prompt_ids", List.of(1, 2, 9))), TokenSink.DISCARD);
        List<ForwardCall> calls = toy.calls();
        assertThat(calls.subList(0, 3)).containsExactly(new ForwardCall(1, 2, 0, false, 1),
                new ForwardCall(1, 2, 2, false, 1), new ForwardCall(1, 1, 2, false, 1));
        for (int k = 1; k < 5; k++) {
            assertThat(calls.get(1 + 2 * k)).isEqualTo(new ForwardCall(1, 1, 4 + k - 1, false, 1));
            assertThat(calls.get(2 + 2 * k)).isEqualTo(new ForwardCall(1, 1, 3 + k - 1, false, 1));
        }
        assertThat(r.forwardPasses()).isEqualTo(11).isEqualTo(calls.size());
        assertThat(r.stats()).containsEntry("cfg.shared_prefix_tokens", 2).containsEntry("cfg.cond_forwards", 6)
                .containsEntry("cfg.uncond_forwards", 6).containsEntry("cfg.scale", 1.5);
    }

    @Test
    void batchModeRunsOneBatchOfTwoPerStep() {
        ToyCausalBackend toy = toy(1);
        GenerationResult r = cfg.generate(context(toy, new int[] {1, 2, 3, 4}, 5, Samplers.greedy(), null, 0,
                Map.of("mode", "batch")), TokenSink.DISCARD);
        List<ForwardCall> calls = toy.calls();
        assertThat(calls.get(0)).isEqualTo(new ForwardCall(2, 4, 0, false, 2));
        for (int k = 1; k < 5; k++) {
            assertThat(calls.get(k)).isEqualTo(new ForwardCall(2, 1, 4 + k - 1, false, 2));
        }
        assertThat(r.forwardPasses()).isEqualTo(5);
        assertThat(r.stats()).containsEntry("cfg.mode", "batch").containsEntry("cfg.unconditional", "bos");
    }

    @ParameterizedTest
    @ValueSource(strings = {"fork", "batch"})
    void cfgIntervalGuidesLlamaGensTokensThenDropsTheUnconditionalRow(String mode) {
        ToyCausalBackend toy = toy(4);
        int[] prompt = {1, 7, 7};
        List<float[]> rows = Samplers.newRecord();
        GenerationResult r = cfg.generate(context(toy, prompt, 8, Samplers.recording(rows, Samplers.ARGMAX), null,
                0, Map.of("mode", mode, "guidance_scale", 4, "cfg_interval", 1)), TokenSink.DISCARD);
        // LlamaGen: the prefill token and decode steps i <= cfg_interval are guided: tokens 0, 1, 2.
        assertThat(r.stats()).containsEntry("cfg.guided_tokens", 3).containsEntry("cfg.uncond_forwards", 3);
        for (int k = 3; k < 8; k++) {
            assertThat(rows.get(k)).isEqualTo(toy.logitsFor(concat(prompt, Arrays.copyOf(r.tokens(), k))));
        }
        assertThat(rows.get(2)).isNotEqualTo(toy.logitsFor(concat(prompt, Arrays.copyOf(r.tokens(), 2))));
        List<ForwardCall> calls = toy.calls();
        assertThat(calls.get(calls.size() - 1).batchSize()).isEqualTo(1);
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void backendsWithoutTheModesCapabilityAreRefusedNamingIt() {
        ToyCausalBackend noFork = ToyCausalBackend.builder().name("nofork").bos(1).without(Capability.STATE_FORK)
                .build();
        assertThatThrownBy(() -> cfg.generate(context(noFork, new int[] {1, 2}, 4, Samplers.greedy(), null, 0,
                Map.of("mode", "fork")), TokenSink.DISCARD))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("STATE_FORK").hasMessageContaining("nofork").hasMessageContaining("'batch'");
        ToyCausalBackend noBatch = ToyCausalBackend.builder().name("nobatch").bos(1).without(Capability.BATCH)
                .build();
        assertThatThrownBy(() -> cfg.generate(context(noBatch, new int[] {1, 2}, 4, Samplers.greedy(), null, 0,
                Map.of("mode", "batch")), TokenSink.DISCARD)).hasMessageContaining("Capability.BATCH")
                .hasMessageContaining("'fork'");
        ToyCausalBackend noPadding = ToyCausalBackend.builder().name("nopad").bos(1).without(Capability.PADDING)
                .build();
        assertThatThrownBy(() -> cfg.generate(context(noPadding, new int[] {1, 2}, 4, Samplers.greedy(), null, 0,
                Map.of("mode", "batch")), TokenSink.DISCARD)).hasMessageContaining("Capability.PADDING")
                .hasMessageContaining("2 tokens").hasMessageContaining("1 tokens");
        ToyCausalBackend neither = ToyCausalBackend.builder().name("plain").bos(1)
                .without(Capability.BATCH, Capability.STATE_FORK).build();
        assertThatThrownBy(() -> cfg.generate(context(neither, new int[] {1, 2}, 4, Samplers.greedy(), null, 0,
                Map.of()), TokenSink.DISCARD)).hasMessageContaining("STATE_FORK").hasMessageContaining("BATCH")
                .hasMessageContaining("guidance_scale 1");
        // auto falls back to fork when batching is impossible, and guidance_scale 1 needs neither
        assertThat(cfg.generate(context(noBatch, new int[] {1, 2}, 4, Samplers.greedy(), null, 0, Map.of()),
                TokenSink.DISCARD).stats()).containsEntry("cfg.mode", "fork");
        assertThat(cfg.generate(context(neither, new int[] {1, 2}, 4, Samplers.greedy(), null, 0,
                Map.of("guidance_scale", 1)), TokenSink.DISCARD).tokens()).hasSize(4);
        assertThat(noFork.forwardCalls() + noPadding.forwardCalls()).isZero();
    }

    @Test
    void badOptionsAreRefusedNamingTheOptionBeforeAnyForward() {
        ToyCausalBackend toy = toy(0);
        Map<Map<String, Object>, String> cases = Map.of(
                Map.of("guidance_scale", -0.5), "guidance_scale",
                Map.of("guidance_scale", "strong"), "guidance_scale",
                Map.of("cfg_interval", -2), "cfg_interval",
                Map.of("mode", "parallel"), "mode",
                Map.of("negative_prompt_ids", List.of(1, 99)), "id 99",
                Map.of("negative_prompt_ids", List.of()), "negative_prompt_ids",
                Map.of("negative_prompt", "x", "negative_prompt_ids", List.of(1)), "at most one",
                Map.of("negative_prompt", "no tokenizer"), "tokenizer");
        cases.forEach((options, expected) -> assertThatThrownBy(() -> cfg.generate(context(toy, new int[] {1, 2}, 4,
                Samplers.greedy(), null, 0, options), TokenSink.DISCARD))
                .as(options.toString()).isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining(expected));
        ToyCausalBackend noBos = ToyCausalBackend.builder().name("nobos").build();
        assertThatThrownBy(() -> cfg.generate(context(noBos, new int[] {3}, 4, Samplers.greedy(), null, 0, Map.of()),
                TokenSink.DISCARD)).hasMessageContaining("nobos has no BOS").hasMessageContaining("negative_prompt");
        assertThat(toy.forwardCalls() + noBos.forwardCalls()).isZero();
    }

    @Test
    void theUnconditionalRowMustFitTheContextToo() {
        ToyCausalBackend toy = ToyCausalBackend.builder().maxPositions(12).bos(1).build();
        List<Integer> longNegative = List.of(1, 2, 3, 4, 5, 6, 7, 8);
        for (String mode : new String[] {"fork", "batch"}) {
            GenerationResult r = cfg.generate(context(toy, new int[] {1, 2}, 100, Samplers.greedy(), null, 0,
                    Map.of("mode", mode, "negative_prompt_ids", longNegative)), TokenSink.DISCARD);
            assertThat(r.tokens()).hasSize(4);
            assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        }
        // guidance limited to the first tokens: fork mode then only needs room for those
        GenerationResult r = cfg.generate(context(toy, new int[] {1, 2}, 100, Samplers.greedy(), null, 0,
                Map.of("mode", "fork", "negative_prompt_ids", longNegative, "cfg_interval", 0)), TokenSink.DISCARD);
        assertThat(r.tokens()).hasSize(10);
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void stopTokenSinkAndThrowingProcessorsEndTheRequestAndCloseEveryState() {
        ToyCausalBackend toy = toy(2);
        int[] free = cfg.generate(context(toy, new int[] {1, 2}, 12, Samplers.greedy(), null, 0,
                Map.of("mode", "fork")), TokenSink.DISCARD).tokens();
        int stop = free[4];
        int first = 0;
        while (free[first] != stop) {
            first++;
        }
        GenerationResult stopped = cfg.generate(context(toy, new int[] {1, 2}, 12, Samplers.greedy(),
                new int[] {stop}, 0, Map.of("mode", "fork")), TokenSink.DISCARD);
        assertThat(stopped.tokens()).isEqualTo(Arrays.copyOf(free, first));
        assertThat(stopped.finishReason()).isEqualTo(FinishReason.STOP);
        GenerationResult sinkStop = cfg.generate(context(toy, new int[] {1, 2}, 12, Samplers.greedy(), null, 0,
                Map.of()), (row, token, selection) -> false);
        assertThat(sinkStop.tokens()).hasSize(1);
        Supplier<Sampler> failing = () -> new Sampler(List.of((logits, ctx) -> {
            if (ctx.generatedLength() == 2) {
                throw new IllegalStateException("processor bug");
            }
        }), Samplers.ARGMAX);
        for (String mode : new String[] {"fork", "batch"}) {
            assertThatThrownBy(() -> cfg.generate(context(toy, new int[] {1, 2}, 5, failing, null, 0,
                    Map.of("mode", mode)), TokenSink.DISCARD)).hasMessage("processor bug");
        }
        assertThat(toy.openStates()).isZero();
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
