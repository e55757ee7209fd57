package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class OutputConstraintsTest {
    private static Generator generator(boolean inOrder) {
        return new Generator() {
            @Override
            public GenerationResult generate(GenerationContext context, TokenSink sink) {
                throw new UnsupportedOperationException();
            }

            @Override
            public boolean commitsInOrder() {
                return inOrder;
            }
        };
    }

    private static final Set<Trait> CONSTRAINT = Set.of(Trait.CONSTRAINS_OUTPUT, Trait.HISTORY_DEPENDENT);

    @Test
    void aConstraintUnderAGeneratorThatCommitsOutOfOrderIsRefusedNamingBothAndTheFix() {
        assertThatThrownBy(() -> OutputConstraints.check("pipeline 'tiny-mdlm'", "fast-dllm", generator(false),
                "structured-output", CONSTRAINT, () -> List.of("autoregressive", "speculative")))
                .isInstanceOfSatisfying(ArborException.class, e -> {
                    assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE);
                    assertThat(e.getMessage()).startsWith("pipeline 'tiny-mdlm': generator 'fast-dllm' cannot be"
                            + " combined with logits processor 'structured-output':")
                            .contains("commits tokens out of order")
                            .endsWith("use one of its generators that do: autoregressive, speculative");
                });
        assertThatThrownBy(() -> OutputConstraints.check("pipeline 'p'", "jacobi", generator(false), "grammar-x",
                CONSTRAINT, List::of)).hasMessageContaining("use a pipeline with a token-by-token generator");
    }

    @Test
    void otherPairingsPass() {
        assertThatCode(() -> OutputConstraints.check("pipeline 'p'", "autoregressive", generator(true),
                "structured-output", CONSTRAINT, () -> {
                    throw new AssertionError("the fix is asked only when refusing");
                })).doesNotThrowAnyException();
        // processors that do not constrain the output run under any generator
        assertThatCode(() -> OutputConstraints.check("pipeline 'p'", "fast-dllm", generator(false), "temperature",
                Set.of(Trait.ARGMAX_INVARIANT), List::of)).doesNotThrowAnyException();
    }

    @Test
    void theConstraintsBudgetIsTheGeneratorsRealOne() {
        assertThat(OutputConstraints.budget(Options.empty(), 256, 500)).isEqualTo(256);
        assertThat(OutputConstraints.budget(Options.of(Map.of("max_new_tokens", 40)), 256, 500)).isEqualTo(40);
        assertThat(OutputConstraints.budget(Options.empty(), 256, 100)).isEqualTo(100);
        // the processor's own max_tokens may only lower it
        assertThat(OutputConstraints.withBudget(Options.empty(), 80).integer("max_tokens", 0, 0, 999)).isEqualTo(80);
        assertThat(OutputConstraints.withBudget(Options.of(Map.of("max_tokens", 300)), 80)
                .integer("max_tokens", 0, 0, 999)).isEqualTo(80);
        assertThat(OutputConstraints.withBudget(Options.of(Map.of("max_tokens", 30)), 80)
                .integer("max_tokens", 0, 0, 999)).isEqualTo(30);
    }
}
