package dev.arbor.generation.promptlookup;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.speculative.SpeculativeDecoding;
import dev.arbor.testkit.ToyCausalBackend;
import dev.arbor.testkit.ToyConstraint;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Prompt lookup proposes n-grams of the prompt that a constraint may rule out; the verification loop rejects them
 * (their processed target probability is zero), so every output is in the constraint's language and
 * {@code commitsInOrder} holds.
 */
class ConstrainedPromptLookupTest {
    @Test
    void ngramsTheConstraintRulesOutAreRejectedAndEveryOutputIsInTheLanguage() {
        PromptLookupGenerator generator = new PromptLookupGenerator();
        assertThat(generator.commitsInOrder()).isTrue();
        // symbols 0..2 and the end token 3 of the toy constraint; a flat-ish toy, so the prompt's n-grams recur
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(4).seed(2).logitScale(0.5).eos(3, 0.0).build();
        ToyConstraint constraint = ToyConstraint.noDoubleZeroNoTrailingTwo(6);
        long drafted = 0;
        long accepted = 0;
        for (long seed = 0; seed < 3_000; seed++) {
            // the prompt holds "0 0" and "2 <end>": n-grams the constraint forbids
            GenerationContext context = new GenerationContext(toy, null, new int[] {1, 0, 0, 2, 3, 1, 0, 0, 2},
                    10, () -> new Sampler(List.of(constraint), PromptLookupGeneratorTest.SAMPLE), new int[] {3},
                    seed, Options.of(Map.of("lookahead", 3)), Cancellation.NEVER);
            GenerationResult r = generator.generate(context, TokenSink.DISCARD);
            assertThat(constraint.accepts(r.tokens())).as("output %s", Arrays.toString(r.tokens())).isTrue();
            drafted += ((Number) r.stats().get(SpeculativeDecoding.DRAFTED)).longValue();
            accepted += ((Number) r.stats().get(SpeculativeDecoding.ACCEPTED)).longValue();
        }
        assertThat(drafted - accepted).as("drafts were rejected").isGreaterThan(100);
        assertThat(accepted).as("drafts were accepted").isGreaterThan(100);
    }
}
