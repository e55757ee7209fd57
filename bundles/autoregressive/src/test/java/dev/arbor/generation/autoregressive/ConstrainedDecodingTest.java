package dev.arbor.generation.autoregressive;

import static dev.arbor.generation.autoregressive.TestSamplers.context;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.ToyConstraint;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Both generators of this bundle commit tokens in order ({@code Generator.commitsInOrder}), which the platform's
 * constraint processors rely on: every output is in the constraint's language, and beam search never keeps a
 * candidate the constraint ruled out, even when fewer continuations are allowed than there are beams (its chain
 * never sees a history outside the language).
 */
class ConstrainedDecodingTest {
    private final AutoregressiveGenerator autoregressive = new AutoregressiveGenerator();
    private final BeamSearchGenerator beam = new BeamSearchGenerator();

    private static Supplier<Sampler> chain(ToyConstraint constraint, boolean greedy) {
        // the chain must only ever see histories the constraint allowed: a real grammar cannot read past a token it
        // ruled out (a beam slot filled with a ruled-out candidate would show one)
        LogitsProcessor checked = new LogitsProcessor() {
            @Override
            public void process(float[] logits, SamplingContext context) {
                assertThat(constraint.allowsPrefix(context.generated())).as("history %s",
                        Arrays.toString(context.generated())).isTrue();
                constraint.process(logits, context);
            }

            @Override
            public java.util.Set<dev.arbor.api.Trait> traits() {
                return constraint.traits();
            }
        };
        return () -> new Sampler(List.of(checked), greedy ? TestSamplers.ARGMAX : TestSamplers.INVERSE_CDF);
    }

    @Test
    void bothGeneratorsDeclareThatTheyCommitInOrder() {
        assertThat(autoregressive.commitsInOrder()).isTrue();
        assertThat(beam.commitsInOrder()).isTrue();
    }

    @Test
    void autoregressiveSamplesStayInTheLanguageAndCoverIt() {
        EnumeratedJointBackend joint = EnumeratedJointBackend.randomVariableLength(3, 4, 5);
        int bos = joint.boundaryToken();
        ToyConstraint constraint = ToyConstraint.noDoubleZeroNoTrailingTwo(joint.maxLength());
        Map<List<Integer>, Integer> seen = new HashMap<>();
        for (long seed = 0; seed < 3_000; seed++) {
            GenerationResult r = autoregressive.generate(context(joint, new int[] {bos}, 10, chain(constraint, false),
                    new int[] {bos}, seed, Map.of()), TokenSink.DISCARD);
            assertThat(constraint.accepts(r.tokens())).as("output %s", Arrays.toString(r.tokens())).isTrue();
            seen.merge(Arrays.stream(r.tokens()).boxed().toList(), 1, Integer::sum);
        }
        // the constraint restricts, it does not collapse: many different words of the language came out
        assertThat(seen.size()).isGreaterThan(20);
    }

    @Test
    void beamSearchReturnsOnlyWordsOfTheLanguageAndFindsTheBestOne() {
        int[][] words = {{1, 2}, {1, 2, 0}, {2}};
        for (long seed = 0; seed < 8; seed++) {
            EnumeratedJointBackend joint = EnumeratedJointBackend.randomVariableLength(3, 4, seed);
            int bos = joint.boundaryToken();
            ToyConstraint constraint = ToyConstraint.words(3, joint.maxLength(), words);
            // 4 beams for 3 words: after the first step fewer continuations are allowed than there are beams
            GenerationResult r = beam.generate(context(joint, new int[] {bos}, 10, chain(constraint, true),
                    new int[] {bos}, 0, Map.of("num_beams", 4, "num_return_sequences", 3, "length_penalty", 0.0,
                            "early_stopping", "never")), TokenSink.DISCARD);
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
            @SuppressWarnings("unchecked")
            List<List<Integer>> sequences = (List<List<Integer>>) r.stats().get("sequences");
            assertThat(sequences).isNotEmpty();
            for (List<Integer> s : sequences) {
                assertThat(constraint.accepts(s.stream().mapToInt(Integer::intValue).toArray()))
                        .as("returned sequence %s", s).isTrue();
            }
            assertThat(Arrays.stream(r.tokens()).boxed().toList()).isEqualTo(best(joint, constraint, words));
        }
    }

    /** The word with the highest probability under the constrained (masked, renormalised) conditionals. */
    private static List<Integer> best(EnumeratedJointBackend joint, ToyConstraint constraint, int[][] words) {
        List<Integer> best = null;
        double bestLog = Double.NEGATIVE_INFINITY;
        int bos = joint.boundaryToken();
        for (int[] word : words) {
            double log = 0;
            int[] history = new int[] {bos};
            for (int i = 0; i <= word.length; i++) {
                int next = i < word.length ? word[i] : bos;
                log += Math.log(constrained(joint, constraint, history)[next]);
                history = Arrays.copyOf(history, history.length + 1);
                history[history.length - 1] = next;
            }
            if (log > bestLog) {
                bestLog = log;
                best = new ArrayList<>(Arrays.stream(word).boxed().toList());
            }
        }
        return best;
    }

    private static double[] constrained(EnumeratedJointBackend joint, ToyConstraint constraint, int[] history) {
        double[] c = joint.conditional(Arrays.copyOfRange(history, 1, history.length));
        float[] logits = new float[c.length];
        for (int v = 0; v < c.length; v++) {
            logits[v] = (float) Math.log(c[v]);
        }
        SamplingContext context = SamplingContext.seeded(new int[] {history[0]}, c.length, 0);
        for (int i = 1; i < history.length; i++) {
            context.append(history[i]);
        }
        constraint.process(logits, context);
        return TestSamplers.softmax(logits);
    }
}
