package dev.arbor.generation.stree;

import static dev.arbor.generation.stree.TestSupport.DRAFT;
import static dev.arbor.generation.stree.TestSupport.context;
import static dev.arbor.generation.stree.TestSupport.with;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.sampling.SamplingMath;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Greedy equivalence, state handling, stats and refusals on toy backends given tree attention by the oracle. */
class SpeculativeTreeGeneratorTest {
    private final SpeculativeTreeGenerator generator = new SpeculativeTreeGenerator();

    private static final ToyCausalBackend TOY = ToyCausalBackend.builder().vocabSize(24).seed(9).logitScale(3)
            .maxPositions(512).build();
    /** A draft that agrees with the target often but not always: the target's logits plus a second toy's. */
    private static final ToyCausalBackend NOISE = ToyCausalBackend.builder().vocabSize(24).seed(77).logitScale(3)
            .build();

    private static TreeOracleBackend target() {
        return TreeOracleBackend.of(TOY);
    }

    private static TreeOracleBackend noisyDraft(double noise) {
        return new TreeOracleBackend(TOY.card(), TreeOracleBackend.TREE, h -> {
            float[] a = TOY.logitsFor(h);
            float[] b = NOISE.logitsFor(h);
            for (int i = 0; i < a.length; i++) {
                a[i] += (float) (noise * b[i]);
            }
            return a;
        });
    }

    private static int[] greedyReference(int[] prompt, int n, LogitsProcessor... processors) {
        int[] history = prompt.clone();
        int[] out = new int[n];
        Sampler chain = new Sampler(List.of(processors), TestSupport.ARGMAX);
        SamplingContext ctx = SamplingContext.seeded(prompt, TOY.card().vocabSize(), 0);
        for (int i = 0; i < n; i++) {
            float[] logits = TOY.logitsFor(history);
            chain.process(logits, ctx);
            out[i] = SamplingMath.argmax(logits);
            ctx.append(out[i]);
            history = Arrays.copyOf(history, history.length + 1);
            history[history.length - 1] = out[i];
        }
        return out;
    }

    @Test
    void greedyEqualsPlainGreedyForManyTreeShapes() {
        int[][] prompts = {{1}, {3, 7, 2}, {5, 5, 5, 5, 9, 0, 11}};
        List<Map<String, Object>> shapes = List.of(Map.of(), Map.of("depth", 1), Map.of("depth", 6, "branching", 2,
                "max_nodes", 20), Map.of("depth", 3, "branching", List.of(4, 2, 1)), Map.of("branching", 1));
        for (int[] prompt : prompts) {
            int[] expected = greedyReference(prompt, 40);
            for (Map<String, Object> shape : shapes) {
                for (double noise : new double[] {0.0, 0.7, 3.0}) {
                    TreeOracleBackend target = target();
                    TreeOracleBackend draft = noisyDraft(noise);
                    GenerationResult r = generator.generate(context(target, new TestSupport.DraftResolver(draft),
                            prompt, 40, TestSupport.greedy(), null, 0, with(DRAFT, shape.entrySet().stream()
                                    .flatMap(e -> java.util.stream.Stream.of(e.getKey(), e.getValue())).toArray())),
                            TokenSink.DISCARD);
                    assertThat(r.tokens()).as("prompt %s shape %s noise %s", Arrays.toString(prompt), shape, noise)
                            .containsExactly(expected);
                    assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
                    assertThat(r.stats()).containsEntry("speculative.verification", "greedy");
                    assertThat(target.openStates()).isZero();
                    assertThat(draft.openStates()).isZero();
                    long steps = ((Number) r.stats().get("speculative.steps")).longValue();
                    assertThat(target.forwards()).isEqualTo((int) steps);
                    if (noise == 0.0 && !shape.containsKey("max_nodes")) {
                        // A perfect draft: every step accepts a whole root-to-leaf path.
                        int depth = (Integer) shape.getOrDefault("depth", 4);
                        assertThat(steps).isEqualTo((40 + depth) / (depth + 1));
                    }
                }
            }
        }
    }

    @Test
    void statsCountNodesAcceptanceAndTokensPerStep() {
        TreeOracleBackend target = target();
        GenerationResult r = generator.generate(context(target, new TestSupport.DraftResolver(noisyDraft(0.7)),
                new int[] {2, 4}, 60, TestSupport.greedy(), null, 0, with(DRAFT, "depth", 4, "branching",
                        List.of(3, 1))), TokenSink.DISCARD);
        Map<String, Object> s = r.stats();
        int steps = (Integer) s.get("speculative.steps");
        long drafted = (Long) s.get("speculative.drafted");
        long accepted = (Long) s.get("speculative.accepted");
        // 3 + 3 + 3 + 3 nodes per full tree; the last steps may be cut by the budget.
        assertThat(drafted).isLessThanOrEqualTo(12L * steps).isGreaterThan(0);
        assertThat(accepted + steps).isEqualTo(60); // every step commits its accepted path plus one token
        assertThat((Double) s.get("speculative.acceptance_rate")).isCloseTo((double) accepted / drafted,
                org.assertj.core.data.Offset.offset(1e-12));
        assertThat((Double) s.get("speculative.tokens_per_step")).isCloseTo(60.0 / steps,
                org.assertj.core.data.Offset.offset(1e-12));
        assertThat(accepted).isPositive();
        assertThat(steps).isLessThan(60);
        assertThat(r.forwardPasses()).isEqualTo(steps + (Integer) s.get("speculative.draft_forwards"));
    }

    @Test
    void historyDependentProcessorsSeeEachNodesHistoryUnderGreedy() {
        LogitsProcessor penalty = TestSupport.repetitionPenalty(3.0);
        int[] expected = greedyReference(new int[] {1}, 50, penalty);
        int[] unpenalised = greedyReference(new int[] {1}, 50);
        assertThat(expected).isNotEqualTo(unpenalised);
        GenerationResult r = generator.generate(context(target(), new TestSupport.DraftResolver(noisyDraft(0.5)),
                new int[] {1}, 50, TestSupport.greedy(penalty), null, 0, with(DRAFT, "branching", 3)),
                TokenSink.DISCARD);
        assertThat(r.tokens()).containsExactly(expected);
    }

    @Test
    void stopTokenEndsWithoutBeingEmittedAndTheSinkCanStop() {
        int[] free = greedyReference(new int[] {1}, 30);
        int stop = free[7];
        int first = 0;
        while (free[first] != stop) {
            first++;
        }
        List<Integer> sunk = new ArrayList<>();
        List<Selection> selections = new ArrayList<>();
        GenerationResult r = generator.generate(context(target(), new TestSupport.DraftResolver(noisyDraft(0.0)),
                new int[] {1}, 30, TestSupport.greedy(), new int[] {stop}, 0, DRAFT), (row, token, selection) -> {
                    sunk.add(token);
                    selections.add(selection);
                    return true;
                });
        assertThat(r.tokens()).containsExactly(Arrays.copyOf(free, first));
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(sunk).containsExactlyElementsOf(Arrays.stream(r.tokens()).boxed().toList());
        for (int i = 0; i < selections.size(); i++) {
            Selection s = selections.get(i);
            assertThat(s.distribution()[s.token()]).isEqualTo(1f);
            assertThat(s.logProbability()).isEqualTo(r.logProbs()[i]).isNegative();
        }

        AtomicInteger seen = new AtomicInteger();
        TreeOracleBackend target = target();
        TreeOracleBackend draft = noisyDraft(0.0);
        GenerationResult stopped = generator.generate(context(target, new TestSupport.DraftResolver(draft),
                new int[] {1}, 30, TestSupport.greedy(), null, 0, DRAFT), (row, t, s) -> seen.incrementAndGet() < 3);
        assertThat(stopped.tokens()).containsExactly(Arrays.copyOf(free, 3));
        assertThat(stopped.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(target.openStates()).isZero();
        assertThat(draft.openStates()).isZero();
    }

    @Test
    void budgetAndContextAreNeverExceeded() {
        // A context of 12 positions: the last steps must shrink their trees to fit next to the prefix.
        TreeOracleBackend tight = new TreeOracleBackend(TOY.card(), 12, TreeOracleBackend.TREE, TOY::logitsFor);
        TreeOracleBackend tightDraft = new TreeOracleBackend(TOY.card(), 12, TreeOracleBackend.TREE, TOY::logitsFor);
        GenerationResult r = generator.generate(context(tight, new TestSupport.DraftResolver(tightDraft),
                new int[] {1, 2, 3}, 100, TestSupport.greedy(), null, 0, with(DRAFT, "branching", 3)),
                TokenSink.DISCARD);
        assertThat(r.tokens()).containsExactly(greedyReference(new int[] {1, 2, 3}, 9));
        assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        for (int max : new int[] {1, 2, 5, 7}) {
            GenerationResult capped = generator.generate(context(target(), new TestSupport.DraftResolver(
                    noisyDraft(0.0)), new int[] {1}, 100, TestSupport.greedy(), null, 0, with(DRAFT,
                    "max_new_tokens", max)), TokenSink.DISCARD);
            assertThat(capped.tokens()).containsExactly(greedyReference(new int[] {1}, max));
        }
        GenerationResult none = generator.generate(context(target(), new TestSupport.DraftResolver(noisyDraft(0)),
                new int[] {1}, 0, TestSupport.greedy(), null, 0, DRAFT), TokenSink.DISCARD);
        assertThat(none.tokens()).isEmpty();
        assertThat(none.forwardPasses()).isZero();
    }

    @Test
    void cancellationIsCheckedOncePerStep() {
        AtomicInteger checks = new AtomicInteger();
        TreeOracleBackend target = target();
        GenerationContext ctx = new GenerationContext(target, null, new int[] {1}, 50, TestSupport.greedy(), null, 0,
                Options.of(DRAFT), () -> checks.incrementAndGet() > 2, new TestSupport.DraftResolver(noisyDraft(0)));
        GenerationResult r = generator.generate(ctx, TokenSink.DISCARD);
        assertThat(r.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(r.stats()).containsEntry("speculative.steps", 2);
        assertThat(r.tokens()).hasSize(10); // two full steps of depth 4 with a perfect draft
        assertThat(target.openStates()).isZero();
    }

    @Test
    void draftLayersOpensTheTargetWithKeepLayers() {
        TestSupport.DraftResolver resolver = new TestSupport.DraftResolver(noisyDraft(0.5));
        GenerationResult r = generator.generate(context(target(), resolver, new int[] {1}, 10, TestSupport.greedy(),
                null, 0, Map.of("draft_layers", 2)), TokenSink.DISCARD);
        assertThat(r.tokens()).containsExactly(greedyReference(new int[] {1}, 10));
        ModelRef opened = resolver.opened.get(0);
        assertThat(opened.path()).isEqualTo(TestSupport.TARGET_REF.path());
        assertThat(opened.options().integer("keep_layers", 0, 0, 100)).isEqualTo(2);

        TestSupport.DraftResolver explicit = new TestSupport.DraftResolver(noisyDraft(0.5));
        generator.generate(context(target(), explicit, new int[] {1}, 3, TestSupport.greedy(), null, 0,
                Map.of("draft", Map.of("backend", "onnxruntime", "format", "llama2c", "path", "/m/d.bin",
                        "options", Map.of("keep_layers", 3)))), TokenSink.DISCARD);
        assertThat(explicit.opened).containsExactly(new ModelRef("onnxruntime", "llama2c", "/m/d.bin",
                Options.of(Map.of("keep_layers", 3))));
    }

    @Test
    void targetWithoutTreeAttentionOrCompactIsRefusedNamingTheCapability() {
        ToyCausalBackend noMask = ToyCausalBackend.builder().name("toy-causal").build();
        assertThatThrownBy(() -> generator.generate(context(noMask, new TestSupport.DraftResolver(noisyDraft(0)),
                new int[] {1}, 5, TestSupport.greedy(), null, 0, DRAFT), TokenSink.DISCARD))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("EXPLICIT_MASK").hasMessageContaining("toy-causal")
                .hasMessageContaining("autoregressive");
        assertThat(noMask.forwardCalls()).isZero();
        TreeOracleBackend noCompact = target().without(Capability.STATE_COMPACT);
        assertThatThrownBy(() -> generator.generate(context(noCompact, new TestSupport.DraftResolver(noisyDraft(0)),
                new int[] {1}, 5, TestSupport.greedy(), null, 0, DRAFT), TokenSink.DISCARD))
                .hasMessageContaining("STATE_COMPACT").hasMessageNotContaining("EXPLICIT_MASK and");
        assertThat(noCompact.forwards()).isZero();
    }

    @Test
    void unsuitableDraftsAreRefused() {
        ToyCausalBackend otherVocab = ToyCausalBackend.builder().vocabSize(30).build();
        TreeOracleBackend wide = TreeOracleBackend.of(otherVocab);
        assertThatThrownBy(() -> generator.generate(context(target(), new TestSupport.DraftResolver(wide),
                new int[] {1}, 5, TestSupport.greedy(), null, 0, DRAFT), TokenSink.DISCARD))
                .hasMessageContaining("30").hasMessageContaining("24").hasMessageContaining("vocabulary");
        TreeOracleBackend noMask = noisyDraft(0).without(Capability.EXPLICIT_MASK);
        assertThatThrownBy(() -> generator.generate(context(target(), new TestSupport.DraftResolver(noMask),
                new int[] {1}, 5, TestSupport.greedy(), null, 0, DRAFT), TokenSink.DISCARD))
                .hasMessageContaining("EXPLICIT_MASK").hasMessageContaining("'depth' to 1");
        // depth 1 needs no tree mask on the draft
        GenerationResult r = generator.generate(context(target(), new TestSupport.DraftResolver(noMask),
                new int[] {1}, 12, TestSupport.greedy(), null, 0, with(DRAFT, "depth", 1, "branching", 4)),
                TokenSink.DISCARD);
        assertThat(r.tokens()).containsExactly(greedyReference(new int[] {1}, 12));
        TreeOracleBackend noTruncate = noisyDraft(0).without(Capability.STATE_TRUNCATE);
        assertThatThrownBy(() -> generator.generate(context(target(), new TestSupport.DraftResolver(noTruncate),
                new int[] {1}, 5, TestSupport.greedy(), null, 0, DRAFT), TokenSink.DISCARD))
                .hasMessageContaining("STATE_TRUNCATE");
        // draft_layers without a target reference (a context without a platform)
        assertThatThrownBy(() -> generator.generate(new GenerationContext(target(), null, new int[] {1}, 5,
                TestSupport.greedy(), null, 0, Options.of(Map.of("draft_layers", 2)), null), TokenSink.DISCARD))
                .hasMessageContaining("draft_layers").hasMessageContaining("'draft'");
    }

    @Test
    void badOptionsAreRefusedNamingTheKey() {
        Object[][] cases = {
            {Map.of(), "needs a draft model"},
            {with(DRAFT, "draft_layers", 2), "not both"},
            {Map.of("draft_layers", 0), "draft_layers"},
            {with(DRAFT, "depth", 0), "depth"},
            {with(DRAFT, "depth", 99), "depth"},
            {with(DRAFT, "branching", 0), "branching"},
            {with(DRAFT, "branching", List.of(2, 0)), "branching"},
            {with(DRAFT, "branching", "three"), "branching"},
            {with(DRAFT, "max_nodes", 0), "max_nodes"},
            {with(DRAFT, "sampling_verification", "typical"), "sampling_verification"},
            {Map.of("draft", Map.of("backend", "onnxruntime", "format", "onnx", "path", "x", "layers", 2)),
                "unknown keys [layers]"},
            {Map.of("draft", Map.of("model", "tiny", "options", Map.of())), "give only {\"model\": \"NAME\"}"},
            {Map.of("draft", 3), "must name a model of the registry"},
            {Map.of("draft", "stories260K.bin"), "cannot resolve model name 'stories260K.bin'"},
        };
        for (Object[] c : cases) {
            @SuppressWarnings("unchecked")
            Map<String, Object> options = (Map<String, Object>) c[0];
            TreeOracleBackend target = target();
            assertThatThrownBy(() -> generator.generate(context(target, new TestSupport.DraftResolver(noisyDraft(0)),
                    new int[] {1}, 5, TestSupport.greedy(), null, 0, options), TokenSink.DISCARD))
                    .as("options %s", options)
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                    .hasMessageContaining((String) c[1]);
            assertThat(target.forwards()).isZero();
        }
        assertThatThrownBy(() -> generator.generate(context(target(), new TestSupport.DraftResolver(noisyDraft(0)),
                new int[0], 5, TestSupport.greedy(), null, 0, DRAFT), TokenSink.DISCARD))
                .hasMessageContaining("prompt is empty");
    }

    @Test
    void processorsThatCannotBeHonouredAreRefusedAtConfigurationAndAtRequestTime() {
        assertThat(generator.incompatibility(Set.of(Trait.USES_RANDOMNESS, Trait.SPECULATIVE_SAFE)))
                .contains("USES_RANDOMNESS").contains("speculative-tree");
        assertThat(generator.incompatibility(Set.of(Trait.BATCH_SAFE))).contains("SPECULATIVE_SAFE");
        assertThat(generator.incompatibility(Set.of(Trait.SPECULATIVE_SAFE, Trait.HISTORY_DEPENDENT))).isNull();
        assertThat(generator.incompatibility(Set.of(Trait.ARGMAX_INVARIANT, Trait.SPECULATIVE_SAFE))).isNull();
        assertThat(generator.incompatibility(Set.of())).isNull();
        assertThat(generator.requirements()).containsExactlyInAnyOrder(Trait.NEEDS_EXPLICIT_MASK, Trait.NEEDS_STATE_COMPACT);

        LogitsProcessor noisy = new LogitsProcessor() {
            @Override
            public void process(float[] logits, SamplingContext context) {
                logits[0] += (float) context.random().nextDouble();
            }

            @Override
            public Set<Trait> traits() {
                return Set.of(Trait.USES_RANDOMNESS, Trait.SPECULATIVE_SAFE);
            }
        };
        TreeOracleBackend target = target();
        assertThatThrownBy(() -> generator.generate(context(target, new TestSupport.DraftResolver(noisyDraft(0)),
                new int[] {1}, 5, TestSupport.sampling(TestSupport.temperature(0.7), noisy), null, 0, DRAFT),
                TokenSink.DISCARD))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("processor #1").hasMessageContaining("USES_RANDOMNESS");
        assertThat(target.forwards()).isZero();
    }

    @Test
    void selectorsThatAreNeitherArgmaxNorSoftmaxSamplingAreRefused() {
        // Picks the second-best token with a one-hot distribution (like the runner-up test selector).
        dev.arbor.api.sampling.TokenSelector runnerUp = (logits, ctx) -> {
            int[] order = SamplingMath.argsortDescending(logits);
            float[] oneHot = new float[logits.length];
            oneHot[order[1]] = 1f;
            return new Selection(order[1], oneHot, 0, 1);
        };
        assertThatThrownBy(() -> generator.generate(context(target(), new TestSupport.DraftResolver(noisyDraft(0)),
                new int[] {1}, 5, () -> new Sampler(List.of(), runnerUp), null, 0, DRAFT), TokenSink.DISCARD))
                .hasMessageContaining("selector").hasMessageContaining("'greedy'");
        assertThat(SpeculativeTreeGenerator.isArgmaxSelector(TestSupport.ARGMAX, new int[] {1}, 24)).isTrue();
        assertThat(SpeculativeTreeGenerator.isArgmaxSelector(TestSupport.SAMPLE, new int[] {1}, 24)).isFalse();
    }

    @Test
    void theTreeMaskSeesPrefixAncestorsAndSelfAtDepthPositions() {
        TokenTree tree = new TokenTree(7);
        int a = tree.add(0, 1);
        int b = tree.add(0, 2);
        int c = tree.add(a, 3);
        int d = tree.add(b, 4);
        int e = tree.add(c, 5);
        assertThat(tree.path(e)).containsExactly(a, c, e);
        assertThat(tree.pathTokens(d)).containsExactly(2, 4);
        assertThat(tree.leaves()).containsExactly(d, e);
        // state of 3 slots, 2 pending prompt tokens, then root and five nodes
        BitSet[] rows = tree.attention(3, 2).visible()[0];
        assertThat(rows).hasSize(8);
        assertThat(rows[0].toString()).isEqualTo("{0, 1, 2, 3}");
        assertThat(rows[1].toString()).isEqualTo("{0, 1, 2, 3, 4}");
        assertThat(rows[2].toString()).isEqualTo("{0, 1, 2, 3, 4, 5}"); // root
        assertThat(rows[2 + e].toString()).isEqualTo("{0, 1, 2, 3, 4, 5, 6, 8, 10}");
        assertThat(rows[2 + d].toString()).isEqualTo("{0, 1, 2, 3, 4, 5, 7, 9}");
        assertThat(tree.positions(3, 2)[0]).containsExactly(3, 4, 5, 6, 6, 7, 7, 8);
        assertThat(tree.flatTokens(new int[] {8, 9})).containsExactly(8, 9, 7, 1, 2, 3, 4, 5);
        assertThat(tree.keepSlots(3, 2, new int[] {a, c})).containsExactly(0, 1, 2, 3, 4, 5, 6, 8);
        assertThatThrownBy(() -> tree.add(a, 9)).hasMessageContaining("breadth-first");
    }
}
