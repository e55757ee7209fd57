package dev.arbor.generation.grouped;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.jacobi.AcceptanceRule;
import dev.arbor.jacobi.JacobiDecoder;
import dev.arbor.sampling.SamplingMath;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class GroupedSpeculativeGeneratorTest {
    private final GroupedSpeculativeGenerator gsd = new GroupedSpeculativeGenerator();

    private static final TokenSelector ARGMAX = (logits, context) -> {
        int best = SamplingMath.argmax(logits);
        float[] oneHot = new float[logits.length];
        oneHot[best] = 1f;
        return new Selection(best, oneHot, SamplingMath.logSoftmax(logits)[best], 1);
    };
    private static final TokenSelector INVERSE_CDF = (logits, context) -> {
        double[] p = SamplingMath.softmax(logits);
        int token = SamplingMath.inverseCdf(p, context.random().nextDouble());
        return new Selection(token, SamplingMath.toFloat(p), Math.log(p[token]), p[token]);
    };
    private static final Supplier<Sampler> SAMPLING = () -> new Sampler(List.of(), INVERSE_CDF);
    private static final Supplier<Sampler> GREEDY = () -> new Sampler(List.of(), ARGMAX);

    private static GenerationContext context(ModelBackend model, int[] prompt, int max, Supplier<Sampler> chain,
                                             int[] stop, long seed, Map<String, ?> options) {
        return new GenerationContext(model, null, prompt, max, chain, stop, seed, Options.of(options),
                Cancellation.NEVER);
    }

    /**
     * GSD with groups of one equals SJD exactly: same seed, same tokens, log-probabilities and step counts, whether
     * the group is cut to one by the ranks (neighbours 0/0) or by thresholds that admit only the draft itself.
     */
    @Test
    void groupsOfOneEqualSjdExactly() {
        EnumeratedJointBackend joint = EnumeratedJointBackend.randomVariableLength(4, 5, 3);
        EmbeddedJoint model = new EmbeddedJoint(joint, EmbeddedJoint.onALine(joint.card().vocabSize()));
        int bos = joint.boundaryToken();
        List<Map<String, Object>> groupsOfOne = List.of(
                Map.of("neighbours_below", 0, "neighbours_above", 0, "p_thr", 1.0, "d_thr", 1e9),
                Map.of("p_thr", 1e-12, "d_thr", 1e-12));
        int differentOutputs = 0;
        int[] first = null;
        long accepted = 0;
        for (Map<String, Object> group : groupsOfOne) {
            for (int window : new int[] {2, 4, 7}) {
                for (long seed = 0; seed < 300; seed++) {
                    Map<String, Object> options = new HashMap<>(group);
                    options.put("window", window);
                    GenerationResult sjd = JacobiDecoder.generate(context(model, new int[] {bos}, 10, SAMPLING,
                            new int[] {bos}, seed, Map.of("window", window)), TokenSink.DISCARD);
                    GenerationResult grouped = gsd.generate(context(model, new int[] {bos}, 10, SAMPLING,
                            new int[] {bos}, seed, options), TokenSink.DISCARD);
                    assertThat(grouped.tokens()).isEqualTo(sjd.tokens());
                    assertThat(grouped.logProbs()).isEqualTo(sjd.logProbs());
                    assertThat(grouped.forwardPasses()).isEqualTo(sjd.forwardPasses());
                    assertThat(grouped.stats()).containsEntry("speculative.accepted",
                            sjd.stats().get("speculative.accepted")).containsEntry("grouped.mean_group_size",
                            (long) sjd.stats().get("speculative.drafted") == 0 ? 0.0 : 1.0);
                    accepted += (long) sjd.stats().get("speculative.accepted");
                    if (first == null) {
                        first = sjd.tokens();
                    } else if (!java.util.Arrays.equals(first, sjd.tokens())) {
                        differentOutputs++;
                    }
                }
            }
        }
        assertThat(differentOutputs).isPositive();
        assertThat(accepted).isPositive();
        assertThat(joint.openStates()).isZero();
    }

    /** With wide groups (every embedding equal, p_thr 1) GSD accepts more drafts than SJD: the rule really acts. */
    @Test
    void wideGroupsAcceptMoreThanSjd() {
        EnumeratedJointBackend joint = EnumeratedJointBackend.random(4, 5, 8);
        EmbeddedJoint model = new EmbeddedJoint(joint, EmbeddedJoint.allEqual(joint.card().vocabSize()));
        int bos = joint.boundaryToken();
        long sjdAccepted = 0;
        long gsdAccepted = 0;
        int different = 0;
        for (long seed = 0; seed < 400; seed++) {
            GenerationResult sjd = JacobiDecoder.generate(context(model, new int[] {bos}, 10, SAMPLING,
                    new int[] {bos}, seed, Map.of("window", 4)), TokenSink.DISCARD);
            GenerationResult grouped = gsd.generate(context(model, new int[] {bos}, 10, SAMPLING, new int[] {bos},
                    seed, Map.of("window", 4, "p_thr", 1.0)), TokenSink.DISCARD);
            sjdAccepted += (long) sjd.stats().get("speculative.accepted");
            gsdAccepted += (long) grouped.stats().get("speculative.accepted");
            if (!java.util.Arrays.equals(sjd.tokens(), grouped.tokens())) {
                different++;
            }
            assertThat((double) grouped.stats().get("grouped.mean_group_size")).isGreaterThan(1.0);
        }
        assertThat(gsdAccepted).isGreaterThan(sjdAccepted + sjdAccepted / 5);
        assertThat(different).isPositive();
    }

    /** METHODS.md: for a one-hot draft Q(G) = 1 and P(G) >= p(x), so GSD's ratio dominates SJD's. */
    @Test
    void groupedRatioDominatesTheTokenRatioForDeterministicDrafts() {
        SplittableRandom rng = new SplittableRandom(1);
        int vocab = 40;
        GroupedRatioRule rule = new GroupedRatioRule(new EmbeddedJoint(ToyCausalBackend.builder().vocabSize(vocab)
                .build(), EmbeddedJoint.onALine(vocab)), new GroupedRatioRule.Config(7, 6, 0.15, 30), "toy");
        int strictlyLarger = 0;
        for (int trial = 0; trial < 2000; trial++) {
            float[] logits = new float[vocab];
            for (int i = 0; i < vocab; i++) {
                logits[i] = (float) (3 * rng.nextDouble());
            }
            double[] p = SamplingMath.softmax(logits);
            int x = rng.nextInt(vocab);
            double grouped = rule.ratio(new AcceptanceRule.Verification(x, null, logits, p));
            assertThat(grouped).isGreaterThanOrEqualTo(p[x]);
            if (grouped > p[x] * (1 + 1e-12)) {
                strictlyLarger++;
            }
        }
        assertThat(strictlyLarger).isGreaterThan(1000);
    }

    @Test
    void greedyGsdEqualsGreedySjd() {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(20).maxPositions(60).seed(4).logitScale(2)
                .build();
        EmbeddedJoint model = new EmbeddedJoint(toy, EmbeddedJoint.allEqual(20));
        for (int window : new int[] {2, 5, 16}) {
            GenerationResult sjd = JacobiDecoder.generate(context(model, new int[] {1, 2}, 40, GREEDY, null, 0,
                    Map.of("window", window)), TokenSink.DISCARD);
            GenerationResult grouped = gsd.generate(context(model, new int[] {1, 2}, 40, GREEDY, null, 0,
                    Map.of("window", window, "p_thr", 1.0)), TokenSink.DISCARD);
            assertThat(grouped.tokens()).isEqualTo(sjd.tokens()).hasSize(40);
        }
    }

    @Test
    void aBackendWithoutEmbeddingsIsRefusedNamingItAndTheAlternatives() {
        ToyCausalBackend toy = ToyCausalBackend.builder().name("toy-model").build();
        assertThatThrownBy(() -> gsd.generate(context(toy, new int[] {1}, 5, SAMPLING, null, 0, Map.of()),
                TokenSink.DISCARD))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("toy-model")
                .hasMessageContaining("EMBEDDING_MATRIX").hasMessageContaining("llama2c")
                .hasMessageContaining("'jacobi'");
        assertThat(toy.forwardCalls()).isZero();
    }

    @Test
    void badOptionsAreRefusedNamingTheKey() {
        EnumeratedJointBackend joint = EnumeratedJointBackend.random(3, 3, 1);
        EmbeddedJoint model = new EmbeddedJoint(joint, EmbeddedJoint.onALine(4));
        Map<String, Object[]> bad = Map.of("window", new Object[] {0, -1}, "p_thr", new Object[] {0, -0.1, 1.5},
                "d_thr", new Object[] {0, -2, "far"}, "neighbours_below", new Object[] {-1, "x"},
                "neighbours_above", new Object[] {-1}, "init", new Object[] {"zeros"});
        bad.forEach((key, values) -> {
            for (Object v : values) {
                assertThatThrownBy(() -> gsd.generate(context(model, new int[] {3}, 5, SAMPLING, null, 0,
                        Map.of(key, v)), TokenSink.DISCARD))
                        .isInstanceOfSatisfying(ArborException.class,
                                e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                        .hasMessageContaining("'" + key + "'");
            }
        });
        assertThat(joint.forwardCalls()).isZero();
        assertThat(gsd.requirements()).containsExactly(Trait.NEEDS_STATE_TRUNCATE);
        assertThat(gsd.incompatibility(Set.of(Trait.USES_RANDOMNESS))).contains("SPECULATIVE_SAFE");
    }
}
