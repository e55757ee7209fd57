package dev.arbor.generation.cfg;

import static dev.arbor.generation.cfg.Samplers.context;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.guidance.Guidance;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** The {@code cfg} generator's {@code cfg_convention} and {@code cfg_ramp} (METHODS.md §3.2: VAR's and LLaDA's forms). */
class CfgConventionsTest {
    private final ClassifierFreeGuidanceGenerator cfg = new ClassifierFreeGuidanceGenerator();
    private final AutoregressiveGenerator unguided = new AutoregressiveGenerator();

    private static ToyCausalBackend toy(long seed) {
        return ToyCausalBackend.builder().vocabSize(24).seed(seed).bos(1).eos(0, 0.3).build();
    }

    @Test
    void varAndLladaAtZeroAreUnguidedDecodingBitForBit() {
        for (long seed = 0; seed < 8; seed++) {
            ToyCausalBackend toy = toy(seed);
            int[] prompt = {1, 5, 9};
            for (Supplier<Sampler> chain : List.of(Samplers.greedy(), Samplers.sampling())) {
                GenerationResult want = unguided.generate(context(toy, prompt, 16, chain, new int[] {0}, seed,
                        Map.of()), TokenSink.DISCARD);
                for (String convention : new String[] {"var", "llada"}) {
                    for (String ramp : new String[] {"constant", "linear"}) {
                        GenerationResult got = cfg.generate(context(toy, prompt, 16, chain, new int[] {0}, seed,
                                Map.of("cfg_convention", convention, "guidance_scale", 0.0, "cfg_ramp", ramp)),
                                TokenSink.DISCARD);
                        assertThat(got.tokens()).isEqualTo(want.tokens());
                        assertThat(got.logProbs()).isEqualTo(want.logProbs());
                        assertThat(got.forwardPasses()).isEqualTo(want.forwardPasses());
                        assertThat(got.stats()).containsEntry("cfg.mode", "none")
                                .containsEntry("cfg.convention", convention).containsEntry("cfg.uncond_forwards", 0)
                                .containsEntry("cfg.unconditional", "none (guidance_scale 0)");
                    }
                }
            }
            assertThat(toy.openStates()).isZero();
        }
    }

    /** The three conventions are one geometric mixture: LlamaGen's s, VAR's t = s − 1 and LLaDA's cfg = s − 1. */
    @Test
    void theConventionsWriteTheSameGuidanceWithShiftedParameters() {
        for (long seed = 0; seed < 6; seed++) {
            ToyCausalBackend toy = toy(seed);
            for (double s : new double[] {1.25, 1.5, 3.0}) {
                GenerationResult llamagen = cfg.generate(context(toy, new int[] {1, 7}, 12, Samplers.sampling(), null,
                        seed, Map.of("guidance_scale", s)), TokenSink.DISCARD);
                assertThat(llamagen.stats()).containsEntry("cfg.convention", "llamagen");
                for (String convention : new String[] {"var", "llada"}) {
                    GenerationResult other = cfg.generate(context(toy, new int[] {1, 7}, 12, Samplers.sampling(),
                            null, seed, Map.of("cfg_convention", convention, "guidance_scale", s - 1)),
                            TokenSink.DISCARD);
                    assertThat(other.tokens()).as(convention + " " + (s - 1)).isEqualTo(llamagen.tokens());
                    assertThat(other.logProbs()).isEqualTo(llamagen.logProbs());
                }
            }
        }
    }

    /**
     * A linear ramp over the token budget: the first token's parameter is inert (combined row = conditional row,
     * though its unconditional row is computed for the later tokens), the last token's is the scale; checked on the
     * combined rows the chain receives against {@link Guidance#combineWeighted} of the toy's two rows.
     */
    @Test
    void aLinearRampGoesFromInertAtTheFirstTokenToTheScaleAtTheLast() {
        ToyCausalBackend toy = toy(3);
        int budget = 6;
        double t = 2.0;
        List<float[]> rows = Samplers.newRecord();
        GenerationResult got = cfg.generate(context(toy, new int[] {1, 4}, budget, Samplers.recording(rows,
                Samplers.ARGMAX), null, 0, Map.of("cfg_convention", "var", "guidance_scale", t, "cfg_ramp", "linear",
                "mode", "batch")), TokenSink.DISCARD);
        assertThat(got.tokens()).hasSize(budget);
        assertThat(got.stats()).containsEntry("cfg.guided_tokens", budget - 1).containsEntry("cfg.ramp", "linear");
        int[] generated = got.tokens();
        for (int k = 0; k < budget; k++) {
            int[] cond = ClassifierFreeGuidanceGeneratorTest.concat(new int[] {1, 4},
                    java.util.Arrays.copyOf(generated, k));
            int[] uncond = ClassifierFreeGuidanceGeneratorTest.concat(new int[] {1},
                    java.util.Arrays.copyOf(generated, k));
            double weight = 1 + (k == budget - 1 ? t : t * k / (budget - 1.0));
            float[] want = k == 0 ? toy.logitsFor(cond)
                    : Guidance.combineWeighted(toy.logitsFor(cond), toy.logitsFor(uncond), weight, "toy");
            assertThat(rows.get(k)).as("token " + k).isEqualTo(want);
        }
        assertThat((int) got.stats().get("cfg.uncond_forwards")).isEqualTo(budget);
    }

    @Test
    void unknownConventionsAndRampsAreRefusedNamingTheOption() {
        ToyCausalBackend toy = toy(0);
        assertThatThrownBy(() -> cfg.generate(context(toy, new int[] {1}, 4, Samplers.greedy(), null, 0,
                Map.of("cfg_convention", "dit")), TokenSink.DISCARD))
                .hasMessageContaining("cfg_convention must be llamagen, var or llada, got 'dit'");
        assertThatThrownBy(() -> cfg.generate(context(toy, new int[] {1}, 4, Samplers.greedy(), null, 0,
                Map.of("cfg_ramp", "step")), TokenSink.DISCARD))
                .hasMessageContaining("cfg_ramp must be constant, linear or cosine, got 'step'");
        assertThat(toy.forwardCalls()).isZero();
    }
}
