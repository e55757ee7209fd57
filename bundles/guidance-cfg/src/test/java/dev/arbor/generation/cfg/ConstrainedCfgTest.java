package dev.arbor.generation.cfg;

import static dev.arbor.generation.cfg.Samplers.context;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.ToyCausalBackend;
import dev.arbor.testkit.ToyConstraint;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * CFG commits one token per step from the chain run on the combined row with the conditional history, so it
 * declares {@code commitsInOrder} and a constraint processor holds: every guided output is in the language.
 */
class ConstrainedCfgTest {
    private final ClassifierFreeGuidanceGenerator cfg = new ClassifierFreeGuidanceGenerator();

    @Test
    void guidedOutputsStayInTheConstraintsLanguage() {
        assertThat(cfg.commitsInOrder()).isTrue();
        // symbols 0..2 and the end token 3 of the toy constraint; random logits, so guidance changes every row
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(4).seed(3).eos(3, 0.5).build();
        ToyConstraint constraint = ToyConstraint.noDoubleZeroNoTrailingTwo(6);
        Supplier<Sampler> chain = () -> new Sampler(List.of(constraint), Samplers.INVERSE_CDF);
        Set<List<Integer>> seen = new HashSet<>();
        for (long seed = 0; seed < 2_000; seed++) {
            GenerationResult r = cfg.generate(context(toy, new int[] {1, 2}, 20, chain, new int[] {3}, seed,
                    Map.of("guidance_scale", 3.0, "negative_prompt_ids", List.of(0), "mode", "fork")),
                    TokenSink.DISCARD);
            assertThat(constraint.accepts(r.tokens())).as("output %s", Arrays.toString(r.tokens())).isTrue();
            seen.add(Arrays.stream(r.tokens()).boxed().toList());
        }
        assertThat(seen.size()).isGreaterThan(15);
    }
}
