package dev.arbor.generation.promptlookup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.speculative.SpeculativeDecoding;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Prompt lookup through the exact verification loop: its n-gram drafts (one-hot q) keep the target distribution
 * (chi-square over the 120 sequences of an enumerable joint, 10^5 samples, family alpha 0.001 Bonferroni-corrected
 * over the {@value #CONSISTENCY_TESTS} consistency tests of this module; the matching power check is
 * {@code dev.arbor.speculative.PromptLookupPowerTest}), greedy equals plain greedy, options are validated.
 */
class PromptLookupGeneratorTest {
    static final int CONSISTENCY_TESTS = 1;
    static final double ALPHA = ChiSquare.bonferroni(0.001, CONSISTENCY_TESTS);
    static final EnumeratedJointBackend TARGET = EnumeratedJointBackend.randomVariableLength(3, 4, 11);
    private final PromptLookupGenerator generator = new PromptLookupGenerator();

    /** Inverse-CDF sampling of softmax(logits), one nextDouble per call (no dependency on the sampling bundle). */
    static final TokenSelector SAMPLE = (logits, context) -> {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double[] w = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < w.length; i++) {
            w[i] = Math.exp(logits[i] - max);
            sum += w[i];
        }
        double u = context.random().nextDouble() * sum;
        int chosen = -1;
        double c = 0;
        for (int i = 0; i < w.length; i++) {
            if (w[i] > 0) {
                chosen = i;
                c += w[i];
                if (u < c) {
                    break;
                }
            }
        }
        float[] p = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            p[i] = (float) (w[i] / sum);
        }
        return new Selection(chosen, p, Math.log(w[chosen] / sum), w[chosen] / sum);
    };

    static final TokenSelector ARGMAX = (logits, context) -> {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        float[] oneHot = new float[logits.length];
        oneHot[best] = 1f;
        return new Selection(best, oneHot, 0.0, 1.0);
    };

    static GenerationContext context(dev.arbor.api.model.ModelBackend model, int[] prompt, int max,
                                     TokenSelector selector, int[] stop, long seed, Map<String, ?> options) {
        Supplier<Sampler> chain = () -> new Sampler(List.of(), selector);
        return new GenerationContext(model, null, prompt, max, chain, stop, seed, Options.of(options),
                Cancellation.NEVER);
    }

    @Test
    void ngramDraftsKeepTheTargetJoint() {
        int bos = TARGET.boundaryToken();
        Map<List<Integer>, Long> counts = new HashMap<>();
        SplittableRandom seeds = new SplittableRandom(5);
        long drafted = 0;
        long accepted = 0;
        for (int i = 0; i < 100_000; i++) {
            GenerationResult r = generator.generate(context(TARGET, new int[] {bos}, 10, SAMPLE, new int[] {bos},
                    seeds.nextLong(), Map.of("lookahead", 3)), TokenSink.DISCARD);
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
            counts.merge(Arrays.stream(r.tokens()).boxed().toList(), 1L, Long::sum);
            drafted += ((Number) r.stats().get(SpeculativeDecoding.DRAFTED)).longValue();
            accepted += ((Number) r.stats().get(SpeculativeDecoding.ACCEPTED)).longValue();
        }
        ChiSquare.Result result = ChiSquare.test(TARGET.joint(), counts);
        System.out.printf("prompt lookup sampling: %s, drafted %d, accepted %d%n", result, drafted, accepted);
        ChiSquare.assertConsistent(result, ALPHA);
        // drafts were really proposed, and both accept and reject happened often
        assertThat(accepted).isGreaterThan(5_000);
        assertThat(drafted - accepted).isGreaterThan(5_000);
        assertThat(TARGET.openStates()).isZero();
    }

    @Test
    void greedyEqualsPlainGreedyOnARepetitiveToy() {
        for (long seed = 0; seed < 5; seed++) {
            // a flat-ish toy with a small vocabulary loops quickly, so n-grams recur and drafts get accepted
            ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(6).seed(seed).build();
            int[] prompt = {1, 2, 3, 1, 2, 3, 4};
            int[] plain = new AutoregressiveGenerator().generate(context(toy, prompt, 60, ARGMAX, null, 0, Map.of()),
                    TokenSink.DISCARD).tokens();
            GenerationResult r = generator.generate(context(toy, prompt, 60, ARGMAX, null, 0, Map.of()),
                    TokenSink.DISCARD);
            assertThat(r.tokens()).isEqualTo(plain);
            long accepted = ((Number) r.stats().get(SpeculativeDecoding.ACCEPTED)).longValue();
            long drafted = ((Number) r.stats().get(SpeculativeDecoding.DRAFTED)).longValue();
            assertThat(accepted).isBetween(0L, drafted);
            assertThat(accepted + r.forwardPasses()).isEqualTo(r.tokens().length);
            assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
            assertThat((double) r.stats().get(SpeculativeDecoding.TOKENS_PER_STEP)).isGreaterThanOrEqualTo(1.0);
            assertThat(toy.openStates()).isZero();
            if (seed == 0) {
                assertThat(accepted).as("a looping greedy output is predicted by its own n-grams").isPositive();
            }
        }
    }

    @Test
    void badOptionsAndRandomProcessorsAreRefused() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        Map<Map<String, Object>, String> cases = new java.util.LinkedHashMap<>();
        cases.put(Map.of("max_ngram", 0), "'max_ngram' must be between 1 and 32");
        cases.put(Map.of("min_ngram", 4), "'min_ngram' is 4 but 'max_ngram' is 3");
        cases.put(Map.of("lookahead", 65), "'lookahead' must be between 1 and 64");
        cases.put(Map.of("min_ngram", "two"), "'min_ngram' must be an integer");
        for (Map.Entry<Map<String, Object>, String> c : cases.entrySet()) {
            assertThatThrownBy(() -> generator.generate(context(toy, new int[] {1}, 5, ARGMAX, null, 0, c.getKey()),
                    TokenSink.DISCARD)).as("options %s", c.getKey())
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                    .hasMessageContaining(c.getValue());
        }
        assertThat(toy.forwardCalls()).isZero();
        assertThat(generator.incompatibility(Set.of(Trait.USES_RANDOMNESS))).contains("USES_RANDOMNESS");
        assertThat(generator.incompatibility(Set.of(Trait.HISTORY_DEPENDENT, Trait.SPECULATIVE_SAFE))).isNull();
        assertThat(generator.requirements()).containsExactly(Trait.NEEDS_STATE_TRUNCATE);
    }
}
