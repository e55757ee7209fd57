package dev.arbor.generation.cspd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.commons.math3.distribution.NormalDistribution;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ContinuousGeneratorsTest {
    static final ToyLatentCodec CODEC = new ToyLatentCodec();
    static final int N = CODEC.latentTokens();
    static final int IDS = N * CODEC.latentDim();

    private final ContinuousArGenerator ar = new ContinuousArGenerator();
    private final ContinuousSpeculativeGenerator cspd = new ContinuousSpeculativeGenerator();

    /** Resolves registry names to the given toys. */
    static ModelResolver resolver(Map<String, ModelBackend> drafts) {
        return new ModelResolver() {
            @Override
            public ModelRef target() {
                return new ModelRef("test", "llama2c", "/models/target.bin", Options.empty());
            }

            @Override
            public ModelRef named(String name) {
                if (!drafts.containsKey(name)) {
                    throw ArborException.invalid("no model named '" + name + "'");
                }
                return new ModelRef("test", "llama2c", "/models/" + name + ".bin", Options.empty());
            }

            @Override
            public ModelBackend open(ModelRef ref) {
                String file = ref.path().substring(ref.path().lastIndexOf('/') + 1).replace(".bin", "");
                return drafts.get(file);
            }
        };
    }

    static GenerationContext context(ModelBackend target, Map<String, ModelBackend> drafts, int cls, long seed,
                                     Map<String, ?> options, Cancellation cancellation) {
        return new GenerationContext(target, CODEC, new int[] {CODEC.layout().classToken(cls)}, IDS,
                () -> new Sampler(List.of(), TestSelectors.ARGMAX), null, seed, Options.of(options), cancellation,
                resolver(drafts));
    }

    static GenerationContext context(ModelBackend target, ModelBackend draft, long seed, Map<String, ?> options) {
        return context(target, Map.of("toy-draft", draft), 1, seed, options, Cancellation.NEVER);
    }

    static Map<String, Object> opts(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        m.put("draft", "toy-draft");
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    static ToyLatentBackend target(List<ToyLatentBackend.Call> log, Capability... without) {
        return new ToyLatentBackend("toy-target", 11, 0.0, log, without);
    }

    static ToyLatentBackend draft(List<ToyLatentBackend.Call> log) {
        return new ToyLatentBackend("toy-draft", 11, 0.25, log);
    }

    @ParameterizedTest
    @ValueSource(doubles = {1.0, 2.5})
    void prefillRatioOneIsTargetOnlySamplingWithTheSameNoise(double guidance) {
        List<ToyLatentBackend.Call> log = new ArrayList<>();
        ToyLatentBackend t = target(log);
        for (long seed = 0; seed < 5; seed++) {
            GenerationResult plain = ar.generate(context(t, draft(log), seed, opts("guidance_scale", guidance)),
                    new RecordingSink());
            GenerationResult spec = cspd.generate(context(t, draft(log), seed, opts("guidance_scale", guidance,
                    "prefill_ratio", 1.0)), new RecordingSink());
            assertThat(spec.tokens()).as("seed " + seed).containsExactly(plain.tokens());
            assertThat(spec.tokens()).hasSize(IDS);
            assertThat(spec.finishReason()).isEqualTo(FinishReason.STOP);
            assertThat(spec.forwardPasses()).isEqualTo(N).isEqualTo(plain.forwardPasses());
            assertThat(spec.stats()).containsEntry("cspd.draft_forwards", 0).containsEntry("cspd.drafted", 0);
        }
    }

    @Test
    void ratioZeroVerifiesFirstAfterNumDraftDraftedTokens() {
        List<ToyLatentBackend.Call> log = new ArrayList<>();
        GenerationResult r = cspd.generate(context(target(log), draft(log), 3, opts("prefill_ratio", 0.0,
                "num_draft", 4, "guidance_scale", 1.0)), new RecordingSink());
        assertThat(r.tokens()).hasSize(IDS);
        // the draft: the class token, then three drafted tokens, one forward each; then the target's one forward of
        // the class token and the four drafted tokens (its fifth row is the bonus row)
        assertThat(log.subList(0, 5)).containsExactly(
                new ToyLatentBackend.Call("toy-draft", 1, 1, 0),
                new ToyLatentBackend.Call("toy-draft", 1, 1, 1),
                new ToyLatentBackend.Call("toy-draft", 1, 1, 2),
                new ToyLatentBackend.Call("toy-draft", 1, 1, 3),
                new ToyLatentBackend.Call("toy-target", 1, 5, 0));
        long targetCalls = log.stream().filter(c -> c.model().equals("toy-target")).count();
        long draftCalls = log.stream().filter(c -> c.model().equals("toy-draft")).count();
        assertThat(r.forwardPasses()).isEqualTo((int) targetCalls);
        assertThat(r.stats()).containsEntry("forwards", (int) targetCalls)
                .containsEntry("cspd.draft_forwards", (int) draftCalls);
        int drafted = (int) r.stats().get("cspd.drafted");
        int accepted = (int) r.stats().get("cspd.accepted");
        int resampled = (int) r.stats().get("cspd.resampled");
        int bonus = (int) r.stats().get("cspd.bonus");
        assertThat(accepted + resampled + bonus).as("every token decided once").isEqualTo(N);
        assertThat(drafted).isEqualTo(draftCalls);
        assertThat(r.stats().get("cspd.acceptance_rate")).isEqualTo((double) accepted / drafted);
    }

    @Test
    void prefillTokensComeFromTheTargetAlone() {
        List<ToyLatentBackend.Call> log = new ArrayList<>();
        GenerationResult r = cspd.generate(context(target(log), draft(log), 3, opts("prefill_ratio", 0.4,
                "num_draft", 2, "guidance_scale", 1.0)), new RecordingSink());
        // floor(0.4 * 9) = 3 target forwards of one input, then the draft catches up on class + 3 tokens at once
        assertThat(log.subList(0, 3)).containsExactly(new ToyLatentBackend.Call("toy-target", 1, 1, 0),
                new ToyLatentBackend.Call("toy-target", 1, 1, 1), new ToyLatentBackend.Call("toy-target", 1, 1, 2));
        assertThat(log.get(3)).isEqualTo(new ToyLatentBackend.Call("toy-draft", 1, 4, 0));
        assertThat(log.get(4)).isEqualTo(new ToyLatentBackend.Call("toy-draft", 1, 1, 4));
        // the target appends the last decided token and the two drafted ones
        assertThat(log.get(5)).isEqualTo(new ToyLatentBackend.Call("toy-target", 1, 3, 3));
        assertThat(r.stats()).containsEntry("cspd.prefill_tokens", 3);
    }

    @ParameterizedTest
    @ValueSource(strings = {"textbook", "as_coded"})
    void aDraftEqualToTheTargetIsAlwaysAcceptedAndGivesTargetOnlyTokens(String mode) {
        List<ToyLatentBackend.Call> log = new ArrayList<>();
        ToyLatentBackend t = target(log);
        ToyLatentBackend same = new ToyLatentBackend("toy-draft", 11, 0.0, log);
        for (long seed = 0; seed < 4; seed++) {
            GenerationResult r = cspd.generate(context(t, same, seed, opts("mode", mode, "prefill_ratio", 0.0,
                    "guidance_scale", 2.0)), new RecordingSink());
            assertThat(r.stats()).containsEntry("cspd.acceptance_rate", 1.0).containsEntry("cspd.resampled", 0);
            GenerationResult plain = ar.generate(context(t, same, seed, opts("guidance_scale", 2.0)),
                    new RecordingSink());
            // with the shared noise the drafted tokens are the target's own draws
            assertThat(r.tokens()).containsExactly(plain.tokens());
            // 9 tokens in rounds of 4 drafted + 1 bonus: 2 verifications instead of 9 forwards
            assertThat(r.forwardPasses()).isEqualTo(2);
        }
    }

    @Test
    void textbookModeKeepsTheTargetsLawOfTheFirstToken() {
        // x_0 depends on the class only; with prefill 0 it is always drafted and verified, so over seeds the wire id
        // of its first value must follow the target's N(mu, v) at position 0, binned as the wire form bins it (a
        // draft with drift 0.6 has a visibly different law: the negative control)
        List<ToyLatentBackend.Call> log = new ArrayList<>();
        ToyLatentBackend t = target(log);
        ToyLatentBackend far = new ToyLatentBackend("toy-draft", 11, 0.6, log);
        int n = 1500;
        long[] observed = new long[ToyLatentCodec.LEVELS];
        int resampled = 0;
        for (int s = 0; s < n; s++) {
            GenerationResult r = cspd.generate(context(t, far, 1000 + s, opts("prefill_ratio", 0.0, "num_draft", 2,
                    "guidance_scale", 1.0)), new RecordingSink());
            observed[r.tokens()[0]]++;
            resampled += (int) r.stats().get("cspd.resampled");
        }
        assertThat(chiSquarePValue(binLaw(t), observed)).as("against the target's law").isGreaterThan(0.01);
        assertThat(chiSquarePValue(binLaw(far), observed)).as("against the draft's law").isLessThan(1e-4);
        assertThat(resampled).isPositive();
    }

    /** P(wire id) of the first value of x_0 (class 1) under a toy's head. */
    static double[] binLaw(ToyLatentBackend toy) {
        float[] row = toy.head(List.of(toy.embedding(CODEC.layout().classToken(1))), 0);
        LatentOutput out = new LatentOutput(null, new RecordingSink(), CODEC, CODEC.vocabSize());
        double[] p = new double[ToyLatentCodec.LEVELS];
        for (int id = 0; id < p.length; id++) {
            p[id] = Math.exp(out.binLogProbability(id, row[0], Math.sqrt(Math.exp(row[ToyLatentCodec.DIM]))));
        }
        return p;
    }

    /** Pearson's chi-square p-value, bins with an expected count below 5 pooled with their neighbour. */
    static double chiSquarePValue(double[] law, long[] observed) {
        long n = Arrays.stream(observed).sum();
        List<Double> e = new ArrayList<>();
        List<Long> o = new ArrayList<>();
        double accE = 0;
        long accO = 0;
        for (int i = 0; i < law.length; i++) {
            accE += law[i] * n;
            accO += observed[i];
            if (accE >= 5) {
                e.add(accE);
                o.add(accO);
                accE = 0;
                accO = 0;
            }
        }
        int last = e.size() - 1;
        e.set(last, e.get(last) + accE);
        o.set(last, o.get(last) + accO);
        return new org.apache.commons.math3.stat.inference.ChiSquareTest().chiSquareTest(
                e.stream().mapToDouble(Double::doubleValue).toArray(), o.stream().mapToLong(Long::longValue).toArray());
    }

    @Test
    void emitsTheWireIdsOfTheLatentsAndACanvasPerGridRow() {
        List<ToyLatentBackend.Call> log = new ArrayList<>();
        RecordingSink sink = new RecordingSink();
        GenerationResult r = cspd.generate(context(target(log), draft(log), 5, opts()), sink);
        assertThat(sink.tokens()).containsExactly(Arrays.stream(r.tokens()).boxed().toArray(Integer[]::new));
        assertThat(Arrays.stream(r.tokens()).allMatch(id -> id >= 0 && id < ToyLatentCodec.LEVELS)).isTrue();
        assertThat(sink.canvases()).hasSize(ToyLatentCodec.SIDE);
        assertThat(sink.canvases().get(ToyLatentCodec.SIDE - 1).tokens()).containsExactly(r.tokens());
        assertThat(Arrays.stream(r.logProbs()).allMatch(lp -> lp <= 0 && lp > -800)).isTrue();
    }

    @Test
    void twoStatesWithoutBatchGiveTheBatchedTokens() {
        List<ToyLatentBackend.Call> log = new ArrayList<>();
        GenerationResult batched = cspd.generate(context(target(log), draft(log), 9, opts("guidance_scale", 3.0)),
                new RecordingSink());
        GenerationResult single = cspd.generate(context(target(log, Capability.BATCH), draft(log), 9,
                opts("guidance_scale", 3.0)), new RecordingSink());
        assertThat(single.tokens()).containsExactly(batched.tokens());
        assertThat(single.stats()).containsEntry("cfg.mode", "two_states");
        assertThat(batched.stats()).containsEntry("cfg.mode", "batch");
    }

    @Test
    void aSinkThatStopsAndACancelledRequestEndEarly() {
        List<ToyLatentBackend.Call> log = new ArrayList<>();
        GenerationResult stopped = cspd.generate(context(target(log), draft(log), 1, opts()), new RecordingSink(10));
        assertThat(stopped.tokens()).hasSize(10);
        assertThat(stopped.finishReason()).isEqualTo(FinishReason.STOP);
        GenerationResult cancelled = cspd.generate(context(target(log), Map.of("toy-draft", draft(log)), 1, 1,
                opts(), () -> true), new RecordingSink());
        assertThat(cancelled.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(cancelled.tokens()).isEmpty();
    }

    @Test
    void refusesBadOptionsNamingThem() {
        List<ToyLatentBackend.Call> log = new ArrayList<>();
        ToyLatentBackend t = target(log);
        ToyLatentBackend d = draft(log);
        Map<Map<String, Object>, String> cases = Map.of(
                opts("prefill_ratio", 1.5), "prefill_ratio",
                opts("num_draft", 0), "num_draft",
                opts("num_draft", 65), "num_draft",
                opts("mode", "exact"), "mode",
                opts("inner_temperature", 10), "inner_temperature",
                opts("mode", "as_coded", "inner_temperature", 0), "inner_temperature",
                opts("temperature", 0), "temperature",
                opts("max_resample_tries", 0), "max_resample_tries",
                opts("guidance_scale", -1), "guidance_scale");
        cases.forEach((options, name) -> assertThatThrownBy(() -> cspd.generate(context(t, d, 1, options),
                new RecordingSink())).isInstanceOf(ArborException.class).hasMessageContaining(name));
        Map<String, Object> noDraft = new HashMap<>(opts());
        noDraft.remove("draft");
        assertThatThrownBy(() -> cspd.generate(context(t, d, 1, noDraft), new RecordingSink()))
                .isInstanceOf(ArborException.class).hasMessageContaining("draft");
        assertThatThrownBy(() -> cspd.generate(context(t, d, 1, opts("draft", "unknown")), new RecordingSink()))
                .isInstanceOf(ArborException.class).hasMessageContaining("unknown");
    }

    @Test
    void refusesPriorsAndDraftsThatDoNotFit() {
        List<ToyLatentBackend.Call> log = new ArrayList<>();
        ToyLatentBackend t = target(log);
        for (ToyLatentBackend.GaussianHead bad : new ToyLatentBackend.GaussianHead[] {
                ToyLatentBackend.GaussianHead.NONE, ToyLatentBackend.GaussianHead.VELOCITY,
                ToyLatentBackend.GaussianHead.WRONG_BASIS}) {
            ToyLatentBackend d = new ToyLatentBackend("toy-draft", 11, 0.1, log, bad);
            assertThatThrownBy(() -> cspd.generate(context(t, d, 1, opts()), new RecordingSink()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("toy-draft")
                    .matches(e -> ((ArborException) e).kind() == ArborException.Kind.INCOMPATIBLE);
            assertThatThrownBy(() -> ar.generate(context(d, t, 1, Map.of()), new RecordingSink()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("toy-draft");
        }
        ToyLatentBackend noTruncate = new ToyLatentBackend("toy-draft", 11, 0.1, log,
                Capability.STATE_TRUNCATE);
        assertThatThrownBy(() -> cspd.generate(context(t, noTruncate, 1, opts()), new RecordingSink()))
                .hasMessageContaining("STATE_TRUNCATE");
        ToyLatentBackend noEmbeds = new ToyLatentBackend("toy-target", 11, 0, log, Capability.INPUT_EMBEDS);
        assertThatThrownBy(() -> ar.generate(context(noEmbeds, t, 1, Map.of()), new RecordingSink()))
                .hasMessageContaining("INPUT_EMBEDS");
        // a VQ tokenizer is not a latent codec
        GenerationContext vq = new GenerationContext(t, new dev.arbor.testkit.ToyImageTokenizer(
                dev.arbor.testkit.ToyImageTokenizer.layout(6, 16, 3, 4, 6), 1), new int[] {16}, IDS,
                () -> new Sampler(List.of(), TestSelectors.ARGMAX), null, 1, Options.empty(), Cancellation.NEVER);
        assertThatThrownBy(() -> ar.generate(vq, new RecordingSink())).hasMessageContaining("latent codec");
    }

    @Test
    void logitsProcessorsAreRefusedAtConfiguration() {
        assertThat(cspd.incompatibility(Set.of())).isNull();
        assertThat(cspd.incompatibility(Set.of(Trait.ARGMAX_INVARIANT))).contains("no logits processors");
        assertThat(ar.incompatibility(Set.of(Trait.WATERMARK))).contains("no logits processors");
        assertThat(cspd.requirements()).containsExactly(Trait.NEEDS_STATE_TRUNCATE);
        assertThat(cspd.modelOptions()).containsExactly("draft");
    }

    @Test
    void theWireLogProbabilityIsTheBinMass() {
        LatentOutput out = new LatentOutput(null, new RecordingSink(), CODEC, CODEC.vocabSize());
        double total = 0;
        for (int id = 0; id < ToyLatentCodec.LEVELS; id++) {
            total += Math.exp(out.binLogProbability(id, 0.3, 0.7));
        }
        assertThat(total).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-6));
        NormalDistribution nd = new NormalDistribution(0.3, 0.7);
        double step = 2 * ToyLatentCodec.RANGE / (ToyLatentCodec.LEVELS - 1);
        double centre = -ToyLatentCodec.RANGE + 7 * step;
        assertThat(Math.exp(out.binLogProbability(7, 0.3, 0.7))).isCloseTo(
                nd.cumulativeProbability(centre + step / 2) - nd.cumulativeProbability(centre - step / 2),
                org.assertj.core.data.Offset.offset(1e-6));
    }
}
