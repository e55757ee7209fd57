package dev.arbor.generation.stree;

import dev.arbor.api.ArborException;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.DecodeLimits;
import dev.arbor.autoregressive.ModelOptions;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.sampling.SamplingMath;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import org.osgi.service.component.annotations.Component;

/**
 * Speculative tree decoding (STree: Wu et al., "STree: Speculative Tree Decoding for Hybrid State-Space Models";
 * reference implementation {@code github.com/wyc1997/stree @021b0ec}, {@code mamba_ssm/utils/tree_verification.py};
 * METHODS.md §3.11) for transformer targets, where the tree needs only an ancestor attention mask and a KV
 * compaction (the SSM tree scan of the paper is not needed).
 *
 * <p><b>A step.</b> The committed sequence ends with the <i>root</i> token. (1) The draft model expands a token tree
 * below the root, breadth first, one draft forward per level ({@link TreeDrafter}). (2) The target verifies the
 * whole tree in <b>one</b> forward: new tokens = any committed tokens not yet in its state (the prompt, on the first
 * step), the root, and every drafted node, with an {@link dev.arbor.api.model.AttentionSpec.Explicit} ancestor mask
 * (each node sees the committed prefix, its ancestors and itself), positions = committed length - 1 + depth, and a
 * logit row for the root and every node ({@link TokenTree}). (3) A {@link TreeVerifier} walks the tree from the root
 * and returns the accepted path and one final token. (4) The accepted tokens and the final token are committed and
 * streamed; the target's state keeps only the prefix, the root and the accepted path
 * ({@link DecodeState#compact}), the draft's state is truncated back to the committed tokens. The final token is the
 * next step's root. Each step emits between 1 and depth + 1 tokens for one target forward.
 *
 * <p><b>Verification.</b> Chosen by the request's selector, probed once per request with a fixed row: an argmax
 * selector (one-hot distribution: {@code greedy}, or {@code sample} at temperature 0) gets {@link
 * TreeVerifier.Greedy}, whose output equals plain greedy decoding token for token; a selector that samples
 * {@code softmax} of the processed logits ({@code sample}) gets the rule of option {@code sampling_verification}:
 * {@code rrs} (default) = {@link TreeVerifier.RecursiveRejection}, recursive rejection sampling over siblings drawn
 * without replacement from the draft (SpecInfer's multi-step speculative sampling with the draft side without
 * replacement, as in RSD and Sequoia and STree's {@code TokenTree.multi_step_speculative_sampling}), or
 * {@code target_only} = {@link TreeVerifier.TargetOnly}, STree's {@code sampling_verification_tree} on a top-k
 * tree. Both are exact: the emitted sequence has the target's processed distribution. Any other selector is
 * refused, since this strategy cannot reproduce what it draws from.
 *
 * <p><b>Processors.</b> The request's chain is applied to the draft row and to the target row of every tree node
 * with that node's own history (committed tokens + the node's path) through one {@link SamplingContext} per node,
 * so history-dependent processors (penalties) see what plain decoding would show them at that position. Refused,
 * by {@link #incompatibility} and again per processor when a request starts: processors that draw randomness
 * ({@link Trait#USES_RANDOMNESS}) and processors that declare traits but not {@link Trait#SPECULATIVE_SAFE}. (A
 * processor declaring no trait at all cannot be told from an empty chain at configuration time and is taken as a
 * pure function of the row and history.)
 *
 * <p><b>Models.</b> The target must offer {@link Capability#EXPLICIT_MASK} and {@link Capability#STATE_COMPACT}
 * (checked on its card when the request starts, with a message naming what is missing; no {@link Trait} maps to
 * these, so {@link #requirements} cannot declare them). The draft (option {@code draft}, opened with
 * {@link dev.arbor.api.generation.ModelResolver#open}, or {@code draft_layers: N}, the pipeline's model with
 * {@code keep_layers=N}) must share the vocabulary and offer {@link Capability#STATE_TRUNCATE}, and
 * {@link Capability#EXPLICIT_MASK} when depth &gt; 1. The draft is never closed here (the resolver owns it).
 *
 * <p><b>Options.</b> {@code draft} or {@code draft_layers} (one is required), {@code depth} (1..32, default 4:
 * STree's {@code npad}), {@code branching} (children per node: one integer for every level or a list per level whose
 * last entry repeats; default {@code [3, 1]}: three root branches each continued by the draft's best token, the node
 * budget of STree's three draft beams), {@code max_nodes} (1..1024, default 64: the most drafted nodes per tree),
 * {@code sampling_verification} ({@code rrs} | {@code target_only}), {@code max_new_tokens} (caps the request's
 * limit).
 *
 * <p><b>Budget and stops.</b> As the autoregressive generator: at most min(max tokens, {@code max_new_tokens},
 * context - prompt) new tokens; a step's depth is cut so that it never drafts past that, and its node budget so
 * that the tree's slots fit in the target's and the draft's context (near the end of the context trees shrink
 * down to plain autoregressive steps). A
 * stop token ends the request (STOP) without being emitted; a sink that answers false ends it (STOP).
 *
 * <p><b>Randomness</b> (sampling only), all from the request's seeded RNG, per step in this order: the drafter's
 * draws (rrs: one uniform per drafted node, breadth first), then the verifier's (one per sibling tried, one for the
 * final token; target_only: one per node visited).
 *
 * <p><b>Stats</b>: {@code speculative.steps} (target verification forwards), {@code speculative.drafted} (tree
 * nodes drafted, roots excluded), {@code speculative.accepted} (drafted tokens accepted), {@code
 * speculative.acceptance_rate} (accepted / drafted), {@code speculative.tokens_per_step} (tokens committed per
 * step, final tokens included), plus {@code speculative.verification}, {@code speculative.accepted_per_step},
 * {@code speculative.target_forward_tokens}, {@code speculative.draft_forwards},
 * {@code speculative.draft_forward_tokens}. {@link GenerationResult#forwardPasses()} counts target and draft
 * forwards.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=speculative-tree",
        PartProperties.DESCRIPTION + "=Speculative tree decoding (STree): a draft token tree verified in one target "
                + "forward with a tree attention mask; greedy or exact sampling verification"})
public final class SpeculativeTreeGenerator implements Generator {
    private final TreeVerifier samplingVerifierOverride;

    public SpeculativeTreeGenerator() {
        this(null);
    }

    /** Tests only: replaces the sampling verifier (the power check runs a deliberately wrong rule through it). */
    SpeculativeTreeGenerator(TreeVerifier samplingVerifierOverride) {
        this.samplingVerifierOverride = samplingVerifierOverride;
    }

    @Override
    public Set<String> modelOptions() {
        return Set.of(ModelOptions.DRAFT);
    }

    /**
     * Tokens are committed along the accepted root-to-leaf path, each verified on the target row of its node, which
     * ran the chain with that node's own history; no verifier keeps a node whose processed target probability is
     * zero (greedy takes the argmax, the sampling rules accept {@code x} only when {@code u q(x) < p(x)} and draw
     * from residuals of p), so a constraint is part of the target distribution.
     */
    @Override
    public boolean commitsInOrder() {
        return true;
    }

    @Override
    public Set<Trait> requirements() {
        // checked when a pipeline is configured; generate() checks the card again with a detailed message
        return Set.of(Trait.NEEDS_EXPLICIT_MASK, Trait.NEEDS_STATE_COMPACT);
    }

    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return refusal(processorTraits);
    }

    /** Why processors with {@code processorTraits} cannot be honoured, or null. */
    static String refusal(Set<Trait> processorTraits) {
        if (processorTraits.contains(Trait.USES_RANDOMNESS)) {
            return "speculative-tree applies the processor chain to the draft and the target distribution of every "
                    + "tree node, so a processor that draws randomness (USES_RANDOMNESS) would make the two differ "
                    + "and sampling would no longer follow the target; use it with 'autoregressive'";
        }
        if (!processorTraits.isEmpty() && !processorTraits.contains(Trait.SPECULATIVE_SAFE)) {
            return "speculative-tree applies the processor chain identically to draft and target distributions at "
                    + "every tree node, which a processor must declare safe (SPECULATIVE_SAFE); this one declares only "
                    + processorTraits + "; use it with 'autoregressive'";
        }
        return null;
    }

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        ModelBackend target = context.model();
        ModelCard card = target.card();
        TreeOptions options = TreeOptions.parse(context.options(), context.models());
        checkTarget(card);
        int[] prompt = context.prompt().clone();
        DecodeChecks.validatePrompt(prompt, card);
        int budget = DecodeLimits.budget(context, prompt.length, options.maxNewTokens());
        Sampler sampler = DecodeChecks.sampler(context);
        checkProcessors(sampler);
        boolean greedy = isArgmaxSelector(sampler.selector(), prompt, card.vocabSize());
        TreeVerifier verifier = greedy ? TreeVerifier.Greedy.INSTANCE
                : samplingVerifierOverride != null ? samplingVerifierOverride
                : options.sampling() == TreeOptions.SamplingRule.RRS ? TreeVerifier.RecursiveRejection.INSTANCE
                : TreeVerifier.TargetOnly.INSTANCE;
        if (budget <= 0) {
            return new GenerationResult(new int[0], new double[0], FinishReason.LENGTH, 0,
                    stats(verifier, 0, 0, 0, 0, 0, 0, 0));
        }
        ModelBackend draft = openDraft(context, options);
        checkDraft(draft.card(), card, options);

        TokenOutput output = new TokenOutput(context, sink, prompt, budget);
        SamplingContext history = output.history();
        RandomGenerator rng = output.random();
        int steps = 0;
        long drafted = 0;
        long accepted = 0;
        long targetForwardTokens = 0;
        DecodeState state = null;
        TreeDrafter drafter = null;
        try {
            state = target.newState(1);
            drafter = new TreeDrafter(draft, prompt);
            int stateLength = 0;
            double[][] draftDistributions = new double[16][];
            steps:
            while (output.hasRoom() && !output.cancelled()) {
                int committed = history.length();
                // The tree's nodes occupy state slots during the step: they must fit in both contexts, and no
                // node may lie deeper than the tokens left to generate.
                int nodeBudget = Math.min(options.maxNodes(), Math.min(card.maxPositions(),
                        draft.card().maxPositions()) - committed);
                int depth = nodeBudget <= 0 ? 0 : Math.min(options.depth(), output.left() - 1);
                TokenTree tree = new TokenTree(history.token(committed - 1));
                NodeRows rows = new NodeRows(tree, history, sampler);
                Arrays.fill(draftDistributions, null);
                if (depth > 0) {
                    draftDistributions = drafter.expand(tree, depth, nodeBudget, options, verifier.sampledChildren(),
                            rows::processDraft, rng, draftDistributions);
                }

                int[] pending = Arrays.copyOfRange(history.tokens(), stateLength, committed - 1);
                int[] flat = tree.flatTokens(pending);
                int[] logitRows = new int[tree.size()];
                for (int i = 0; i < logitRows.length; i++) {
                    logitRows[i] = pending.length + i;
                }
                float[][] logits = target.forward(ForwardRequest.builder(new int[][] {flat})
                        .positions(tree.positions(stateLength, pending.length))
                        .attention(tree.attention(stateLength, pending.length)).state(state)
                        .write(StateWrite.APPEND).logitRows(new int[][] {logitRows}).build()).logits()[0];
                steps++;
                targetForwardTokens += flat.length;
                if (logits.length != tree.size()) {
                    throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                            + logits.length + " logit rows for the " + tree.size() + " tree nodes requested");
                }
                rows.targetLogits = logits;
                rows.draftDistributions = draftDistributions;
                TreeVerifier.Verdict verdict = verifier.verify(rows, rng);
                drafted += tree.drafted();
                accepted += verdict.accepted().length;

                int[] newTokens = new int[verdict.accepted().length + 1];
                for (int i = 0; i <= verdict.accepted().length; i++) {
                    boolean last = i == verdict.accepted().length;
                    int token = last ? verdict.finalToken() : tree.token(verdict.accepted()[i]);
                    int from = last ? verdict.finalNode() : tree.parent(verdict.accepted()[i]);
                    if (token < 0 || token >= card.vocabSize()) {
                        throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "verifier " + verifier.name()
                                + " chose id " + token + ", outside the vocabulary of " + card.name());
                    }
                    if (output.stopsAt(token)) {
                        break steps;
                    }
                    newTokens[i] = token;
                    // the selection reads the history before the token joins it
                    if (!output.emit(token, rows.selection(from, token, greedy))) {
                        break steps;
                    }
                }
                if (output.hasRoom()) {
                    int[] keep = tree.keepSlots(stateLength, pending.length, verdict.accepted());
                    if (keep.length < state.length()) {
                        state.compact(keep);
                    }
                    stateLength = keep.length;
                    drafter.commit(newTokens);
                }
            }
        } finally {
            if (drafter != null) {
                drafter.close();
            }
            if (state != null) {
                state.close();
            }
        }
        int draftForwards = drafter.forwards();
        Map<String, Object> stats = stats(verifier, steps, drafted, accepted, output.generated(),
                targetForwardTokens, draftForwards, drafter.forwardTokens());
        return output.result(steps + draftForwards, stats);
    }

    private static Map<String, Object> stats(TreeVerifier verifier, int steps, long drafted, long accepted,
                                             int generated, long targetForwardTokens, int draftForwards,
                                             long draftForwardTokens) {
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("speculative.steps", steps);
        stats.put("speculative.drafted", drafted);
        stats.put("speculative.accepted", accepted);
        stats.put("speculative.acceptance_rate", drafted == 0 ? 0.0 : (double) accepted / drafted);
        stats.put("speculative.tokens_per_step", steps == 0 ? 0.0 : (double) generated / steps);
        stats.put("speculative.verification", verifier.name());
        stats.put("speculative.accepted_per_step", steps == 0 ? 0.0 : (double) accepted / steps);
        stats.put("speculative.target_forward_tokens", targetForwardTokens);
        stats.put("speculative.draft_forwards", draftForwards);
        stats.put("speculative.draft_forward_tokens", draftForwardTokens);
        return stats;
    }

    private static void checkTarget(ModelCard card) {
        StringBuilder missing = new StringBuilder();
        for (Capability c : new Capability[] {Capability.EXPLICIT_MASK, Capability.STATE_COMPACT}) {
            if (!card.supports(c)) {
                missing.append(missing.length() == 0 ? "" : " and ").append(c);
            }
        }
        if (missing.length() > 0) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "speculative-tree verifies a draft tree in one"
                    + " forward with a tree attention mask (EXPLICIT_MASK) and keeps the accepted path with "
                    + "DecodeState.compact (STATE_COMPACT), but the backend running " + card.name()
                    + " does not offer " + missing + " (it offers " + card.capabilities() + "); use a model that "
                    + "has them (llama2.c checkpoints on onnxruntime do) or generator 'autoregressive'");
        }
    }

    private static void checkDraft(ModelCard draft, ModelCard target, TreeOptions options) {
        if (draft.vocabSize() != target.vocabSize()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "speculative-tree: the draft " + draft.name()
                    + " has " + draft.vocabSize() + " logits per row but the target " + target.name() + " has "
                    + target.vocabSize() + "; draft and target must share one vocabulary");
        }
        if (!draft.supports(Capability.STATE_TRUNCATE)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "speculative-tree: the draft " + draft.name()
                    + " cannot truncate its state (STATE_TRUNCATE), which drops the drafted tree after each step; "
                    + "choose a draft on a backend that offers it");
        }
        if (options.depth() > 1 && !draft.supports(Capability.EXPLICIT_MASK)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "speculative-tree: the draft " + draft.name()
                    + " cannot take a tree attention mask (EXPLICIT_MASK), which drafting deeper than one level "
                    + "needs; set option 'depth' to 1 or choose a draft that offers it");
        }
    }

    private static ModelBackend openDraft(GenerationContext context, TreeOptions options) {
        ModelBackend draft = context.models().open(options.draft().resolve(context.models()));
        if (draft == null) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the model resolver returned no draft model");
        }
        return draft;
    }

    private static void checkProcessors(Sampler sampler) {
        int i = 0;
        for (LogitsProcessor p : sampler.processors()) {
            String reason = refusal(p.traits());
            if (reason != null) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "logits processor #" + i + " of the "
                        + "chain (" + p.getClass().getName() + "): " + reason);
            }
            i++;
        }
    }

    /**
     * Asks the selector once, on a fixed row of distinct-enough logits and a throwaway RNG, what it draws from: a
     * one-hot distribution at the argmax means greedy; {@code softmax} of the row (within 1e-5) means sampling;
     * anything else is refused, because the verifiers can reproduce only those two.
     */
    static boolean isArgmaxSelector(TokenSelector selector, int[] prompt, int vocabSize) {
        float[] row = new float[vocabSize];
        for (int i = 0; i < vocabSize; i++) {
            row[i] = -0.37f * (i % 13) - 1e-3f * (i % 7);
        }
        Selection s = selector.select(row.clone(), new SamplingContext(prompt, vocabSize, new SplittableRandom(0)));
        float[] dist = s == null ? null : s.distribution();
        if (dist == null || dist.length != vocabSize) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "speculative-tree needs the selector to "
                    + "report the distribution it draws from (Selection.distribution), and this one does not; use "
                    + "selector 'sample' or 'greedy'");
        }
        int argmax = SamplingMath.argmax(row);
        boolean oneHot = true;
        for (int i = 0; i < vocabSize; i++) {
            if (dist[i] != (i == argmax ? 1f : 0f)) {
                oneHot = false;
                break;
            }
        }
        if (oneHot && s.token() == argmax) {
            return true;
        }
        double[] p = SamplingMath.softmax(row);
        for (int i = 0; i < vocabSize; i++) {
            if (Math.abs(p[i] - dist[i]) > 1e-5) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "speculative-tree can reproduce only an "
                        + "argmax selector or one that samples softmax of the processed logits, and the pipeline's "
                        + "selector does neither (probability of token " + i + ": " + dist[i] + " where softmax "
                        + "gives " + p[i] + "); use selector 'sample' or 'greedy', or generator 'autoregressive'");
            }
        }
        return false;
    }

    /**
     * Per-node rows of one step: a {@link SamplingContext} per node (committed history + the node's path, forked
     * from the request's so processors see the real prompt length), the draft rows processed while drafting, and the
     * target rows processed lazily, only for the nodes the verifier visits.
     */
    private static final class NodeRows implements TreeVerifier.View {
        private final TokenTree tree;
        private final SamplingContext history;
        private final Sampler sampler;
        private SamplingContext[] contexts = new SamplingContext[16];
        private float[][] targetProcessed = new float[16][];
        private double[][] targetProbabilities = new double[16][];
        float[][] targetLogits;
        double[][] draftDistributions;

        NodeRows(TokenTree tree, SamplingContext history, Sampler sampler) {
            this.tree = tree;
            this.history = history;
            this.sampler = sampler;
        }

        SamplingContext context(int node) {
            if (node >= contexts.length) {
                contexts = Arrays.copyOf(contexts, Math.max(node + 1, contexts.length * 2));
            }
            if (contexts[node] == null) {
                if (node == 0) {
                    contexts[0] = history;
                } else {
                    SamplingContext c = context(tree.parent(node)).fork();
                    c.append(tree.token(node));
                    contexts[node] = c;
                }
            }
            return contexts[node];
        }

        float[] processDraft(int node, float[] logits) {
            float[] out = logits.clone();
            sampler.process(out, context(node));
            return out;
        }

        @Override
        public TokenTree tree() {
            return tree;
        }

        @Override
        public float[] targetProcessed(int node) {
            if (node >= targetProcessed.length) {
                targetProcessed = Arrays.copyOf(targetProcessed, tree.size());
                targetProbabilities = Arrays.copyOf(targetProbabilities, tree.size());
            }
            if (targetProcessed[node] == null) {
                float[] row = targetLogits[node];
                if (row == null || row.length != history.vocabSize()) {
                    throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the target returned "
                            + (row == null ? "no logits" : row.length + " logits") + " for tree node " + node
                            + ", but its card says " + history.vocabSize());
                }
                float[] out = row.clone();
                sampler.process(out, context(node));
                targetProcessed[node] = out;
            }
            return targetProcessed[node];
        }

        @Override
        public double[] targetProbabilities(int node) {
            float[] processed = targetProcessed(node);
            if (targetProbabilities[node] == null) {
                targetProbabilities[node] = Decoding.softmax(processed, "target", node);
            }
            return targetProbabilities[node];
        }

        @Override
        public double[] draftProbabilities(int node) {
            double[] q = node < draftDistributions.length ? draftDistributions[node] : null;
            if (q == null) {
                throw new IllegalStateException("tree node " + node + " was not expanded by the draft");
            }
            return q;
        }

        /** What the sink sees for {@code token}, drawn at {@code node}: the target's processed distribution there. */
        Selection selection(int node, int token, boolean greedy) {
            float[] processed = targetProcessed(node);
            double logProbability = processed[token] - SamplingMath.logSumExp(processed);
            if (greedy) {
                float[] oneHot = new float[processed.length];
                oneHot[token] = 1f;
                return new Selection(token, oneHot, logProbability, Math.exp(logProbability));
            }
            double[] p = targetProbabilities(node);
            return new Selection(token, SamplingMath.toFloat(p), Math.log(p[token]), p[token]);
        }
    }
}
