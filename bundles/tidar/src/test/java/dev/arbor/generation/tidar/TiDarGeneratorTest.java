package dev.arbor.generation.tidar;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.model.Capability;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestContexts;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

/** Greedy equivalence with plain greedy decoding, options, capabilities, stops, budget, cancellation and stats. */
class TiDarGeneratorTest {
    private static final int VOCAB = 40;
    private static final int MASK = 39;
    private static final int EOS = 3;
    private static final ToyCausalBackend TOY = ToyCausalBackend.builder().vocabSize(VOCAB).maxPositions(96).seed(5)
            .eos(EOS, -2.0).build();

    /**
     * A drafter that is right most of the time: MASK i predicts the toy's greedy continuation i + 2 tokens after the
     * prefix, except when a hash of (prefix, i) says to corrupt it, so both acceptance and rejection happen.
     */
    static BiFunction<int[], Integer, float[]> mostlyRightDraft(ToyCausalBackend toy, int corruptOneIn) {
        return (prefix, i) -> {
            int[] h = prefix.clone();
            int token = -1;
            for (int step = 0; step <= i + 1; step++) {
                token = argmax(TiDarOracleBackend.withoutMask(toy, MASK, h), -1);
                h = Arrays.copyOf(h, h.length + 1);
                h[h.length - 1] = token;
            }
            if (Math.floorMod(Arrays.hashCode(prefix) * 31 + i, corruptOneIn) == 0) {
                token = (token + 1) % MASK;
            }
            float[] logits = new float[VOCAB];
            logits[token] = 4f;
            logits[MASK] = -30f;
            return logits;
        };
    }

    static int argmax(float[] logits, int excluded) {
        int best = excluded == 0 ? 1 : 0;
        for (int v = 0; v < logits.length; v++) {
            if (v != excluded && logits[v] > logits[best]) {
                best = v;
            }
        }
        return best;
    }

    /** Plain greedy decoding of the toy with the same stop token (the reference, written out). */
    static int[] plainGreedy(ToyCausalBackend toy, int[] prompt, int max) {
        int[] h = prompt.clone();
        int[] out = new int[max];
        int n = 0;
        while (n < max && h.length < toy.card().maxPositions()) {
            int t = argmax(TiDarOracleBackend.withoutMask(toy, MASK, h), -1);
            if (t == EOS) {
                break;
            }
            out[n++] = t;
            h = Arrays.copyOf(h, h.length + 1);
            h[h.length - 1] = t;
        }
        return Arrays.copyOf(out, n);
    }

    private static GenerationContext context(TiDarOracleBackend model, int[] prompt, int max, Map<String, ?> options) {
        return TestContexts.context(model, prompt, max, TestContexts.greedy(), new int[] {EOS}, 1, options);
    }

    @Test
    void greedyEqualsPlainGreedyForEveryDraftLengthAndPrompt() {
        long accepted = 0;
        long rejected = 0;
        for (int k = 1; k <= 6; k++) {
            for (int[] prompt : new int[][] {{1}, {5, 9, 2}, {7, 7, 7, 7, 7, 11}}) {
                TiDarOracleBackend model = TiDarOracleBackend.of(TOY, MASK, true, TiDarOracleBackend.CAPABILITIES,
                        mostlyRightDraft(TOY, 4));
                RecordingSink sink = new RecordingSink();
                GenerationResult r = new TiDarGenerator().generate(context(model, prompt, 40,
                        Map.of("draft_length", k)), sink);
                int[] expected = plainGreedy(TOY, prompt, 40);
                assertThat(r.tokens()).as("k=%d prompt %s", k, Arrays.toString(prompt)).containsExactly(expected);
                assertThat(sink.tokens()).containsExactly(expected);
                assertThat(r.finishReason()).isEqualTo(expected.length < 40 ? FinishReason.STOP : FinishReason.LENGTH);
                assertThat(model.openStates).isZero();
                assertThat(model.forwards).isEqualTo(r.forwardPasses());
                accepted += ((Number) r.stats().get(TiDarGenerator.ACCEPTED)).longValue();
                rejected += ((Number) r.stats().get(TiDarGenerator.REJECTED)).longValue();
                double perStep = (Double) r.stats().get(TiDarGenerator.TOKENS_PER_STEP);
                assertThat(perStep).isGreaterThanOrEqualTo(1.0).isLessThanOrEqualTo(k + 1.0);
            }
        }
        // Both paths ran: drafts were accepted (more than one token per forward) and rejected (corrections).
        assertThat(accepted).isGreaterThan(100);
        assertThat(rejected).isGreaterThan(20);
    }

    @Test
    void aPerfectDrafterEmitsDraftLengthPlusOneTokensPerForward() {
        TiDarOracleBackend model = TiDarOracleBackend.of(TOY, MASK, true, TiDarOracleBackend.CAPABILITIES,
                mostlyRightDraft(TOY, Integer.MAX_VALUE));
        int[] prompt = {2, 4};
        int[] expected = plainGreedy(TOY, prompt, 31);
        GenerationResult r = new TiDarGenerator().generate(context(model, prompt, 31, Map.of("draft_length", 4)),
                new RecordingSink());
        assertThat(expected).hasSize(31); // no EOS on the way, so every step runs full length
        assertThat(r.tokens()).containsExactly(expected);
        // 1 token from the first forward, then 5 per forward: 1 + 6 x 5 = 31.
        assertThat(r.forwardPasses()).isEqualTo(7);
        assertThat((Double) r.stats().get(TiDarGenerator.ACCEPTANCE_RATE)).isEqualTo(1.0);
    }

    @Test
    void budgetAndContextAreHonoured() {
        for (int max : new int[] {0, 1, 2, 3, 7}) {
            TiDarOracleBackend model = TiDarOracleBackend.of(TOY, MASK, true, TiDarOracleBackend.CAPABILITIES,
                    mostlyRightDraft(TOY, 3));
            int[] prompt = {5, 9, 2};
            GenerationResult r = new TiDarGenerator().generate(context(model, prompt, max, Map.of()),
                    new RecordingSink());
            int[] expected = plainGreedy(TOY, prompt, max);
            assertThat(r.tokens()).containsExactly(expected);
        }
        // Option max_new_tokens lowers the request's limit; near the end of the context blocks shrink, and the
        // oracle refuses any forward whose slots would overflow it.
        TiDarOracleBackend model = TiDarOracleBackend.of(TOY, MASK, true, TiDarOracleBackend.CAPABILITIES,
                mostlyRightDraft(TOY, 5));
        int[] longPrompt = new int[80];
        Arrays.fill(longPrompt, 6);
        GenerationResult r = new TiDarGenerator().generate(context(model, longPrompt, 100,
                Map.of("draft_length", 6)), new RecordingSink());
        assertThat(r.tokens()).containsExactly(plainGreedy(TOY, longPrompt, 16));
        GenerationResult capped = new TiDarGenerator().generate(context(model, new int[] {1}, 50,
                Map.of("max_new_tokens", 5)), new RecordingSink());
        assertThat(capped.tokens().length).isLessThanOrEqualTo(5);
    }

    @Test
    void sinkStopAndCancellationEndTheRequestBetweenForwards() {
        TiDarOracleBackend model = TiDarOracleBackend.of(TOY, MASK, true, TiDarOracleBackend.CAPABILITIES,
                mostlyRightDraft(TOY, 4));
        RecordingSink two = new RecordingSink(2);
        GenerationResult r = new TiDarGenerator().generate(context(model, new int[] {1}, 40, Map.of()), two);
        assertThat(r.tokens()).hasSize(2);
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
        int[] calls = {0};
        GenerationContext cancelled = new GenerationContext(model, null, new int[] {1}, 40, TestContexts.greedy(),
                new int[] {EOS}, 1, Options.empty(), () -> ++calls[0] > 2);
        int before = model.forwards;
        GenerationResult c = new TiDarGenerator().generate(cancelled, new RecordingSink());
        assertThat(c.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(model.forwards - before).isEqualTo(2);
        assertThat(model.openStates).isZero();
    }

    @Test
    void badOptionsAreRefusedWithTheOptionNamed() {
        TiDarOracleBackend model = TiDarOracleBackend.of(TOY, MASK, true, TiDarOracleBackend.CAPABILITIES,
                mostlyRightDraft(TOY, 4));
        for (Object bad : new Object[] {0, 17, "four", 2.5}) {
            assertThatThrownBy(() -> new TiDarGenerator().generate(context(model, new int[] {1}, 5,
                    Map.of("draft_length", bad)), new RecordingSink()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("draft_length");
        }
        for (Object bad : new Object[] {-1, VOCAB, "x"}) {
            assertThatThrownBy(() -> new TiDarGenerator().generate(context(model, new int[] {1}, 5,
                    Map.of("mask_token_id", bad)), new RecordingSink()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("mask_token_id");
        }
        assertThatThrownBy(() -> new TiDarGenerator().generate(context(model, new int[] {1}, 5,
                Map.of("max_new_tokens", -3)), new RecordingSink()))
                .isInstanceOf(ArborException.class).hasMessageContaining("max_new_tokens");
        assertThatThrownBy(() -> new TiDarGenerator().generate(context(model, new int[0], 5, Map.of()),
                new RecordingSink())).isInstanceOf(ArborException.class).hasMessageContaining("prompt is empty");
        assertThat(model.openStates).isZero();
    }

    @Test
    void aModelWithoutTheNeededCapabilitiesOrAMaskIdIsRefusedNamingIt() {
        for (Capability missing : new Capability[] {Capability.EXPLICIT_MASK, Capability.STATE_TRUNCATE}) {
            EnumSet<Capability> caps = EnumSet.copyOf(TiDarOracleBackend.CAPABILITIES);
            caps.remove(missing);
            TiDarOracleBackend model = TiDarOracleBackend.of(TOY, MASK, true, caps, mostlyRightDraft(TOY, 4));
            assertThatThrownBy(() -> new TiDarGenerator().generate(context(model, new int[] {1}, 5, Map.of()),
                    new RecordingSink())).isInstanceOf(ArborException.class)
                    .hasMessageContaining(missing.name()).hasMessageContaining("autoregressive");
        }
        TiDarOracleBackend noMask = TiDarOracleBackend.of(TOY, MASK, false, TiDarOracleBackend.CAPABILITIES,
                mostlyRightDraft(TOY, 4));
        assertThatThrownBy(() -> new TiDarGenerator().generate(context(noMask, new int[] {1}, 5, Map.of()),
                new RecordingSink())).isInstanceOf(ArborException.class).hasMessageContaining("MASK")
                .hasMessageContaining("mask_token_id");
        // With the id given as an option the same model runs.
        GenerationResult r = new TiDarGenerator().generate(context(noMask, new int[] {1}, 5,
                Map.of("mask_token_id", MASK)), new RecordingSink());
        assertThat(r.tokens()).containsExactly(plainGreedy(TOY, new int[] {1}, 5));
    }

    @Test
    void declaresWhatItNeedsAndRefusesRandomProcessors() {
        TiDarGenerator g = new TiDarGenerator();
        assertThat(g.requirements()).containsExactlyInAnyOrder(Trait.NEEDS_EXPLICIT_MASK,
                Trait.NEEDS_STATE_TRUNCATE);
        assertThat(g.commitsInOrder()).isTrue();
        assertThat(g.incompatibility(Set.of(Trait.USES_RANDOMNESS))).contains("USES_RANDOMNESS");
        assertThat(g.incompatibility(Set.of(Trait.USES_RANDOMNESS, Trait.SPECULATIVE_SAFE))).isNull();
        assertThat(g.incompatibility(Set.of(Trait.HISTORY_DEPENDENT))).isNull();
        LogitsProcessor noisy = new LogitsProcessor() {
            @Override
            public void process(float[] logits, dev.arbor.api.sampling.SamplingContext context) {
            }

            @Override
            public Set<Trait> traits() {
                return Set.of(Trait.USES_RANDOMNESS);
            }
        };
        TiDarOracleBackend model = TiDarOracleBackend.of(TOY, MASK, true, TiDarOracleBackend.CAPABILITIES,
                mostlyRightDraft(TOY, 4));
        GenerationContext c = TestContexts.context(model, new int[] {1}, 5,
                () -> new Sampler(List.of(noisy), TestSelectors.ARGMAX), new int[] {EOS}, 1, Map.of());
        assertThatThrownBy(() -> g.generate(c, new RecordingSink())).isInstanceOf(ArborException.class)
                .hasMessageContaining("USES_RANDOMNESS");
    }
}
