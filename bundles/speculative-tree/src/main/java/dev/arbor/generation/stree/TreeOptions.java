package dev.arbor.generation.stree;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.pipeline.ModelRef;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The options of {@link SpeculativeTreeGenerator}, validated eagerly with messages that name the key, the value and
 * what is allowed.
 *
 * @param draft        the draft model as a pipeline would name it, or null when {@code draftLayers} is used
 * @param draftLayers  the number of target layers the self-draft keeps ({@code keep_layers}), or 0
 * @param depth        the deepest drafted level (STree's {@code npad}, default 4)
 * @param branching    children per node at each depth 0..depth-1 (the last entry repeats)
 * @param maxNodes     the node budget of one tree (the root excluded)
 * @param sampling     the sampling verification rule (greedy decoding ignores it)
 * @param maxNewTokens the option {@code max_new_tokens}, or {@code Integer.MAX_VALUE}
 */
record TreeOptions(ModelRef draft, int draftLayers, int depth, int[] branching, int maxNodes, SamplingRule sampling,
                   int maxNewTokens) {
    /** Option: the draft model, a registry name ({@code "NAME"} or {@code {"model": "NAME"}}). */
    static final String DRAFT = "draft";
    /** Option: a self-draft made of the target's first N layers ({@code keep_layers=N}). */
    static final String DRAFT_LAYERS = "draft_layers";
    /** Option: drafted levels. */
    static final String DEPTH = "depth";
    /** Option: children per node, one integer for every level or a list per level. */
    static final String BRANCHING = "branching";
    /** Option: the most drafted nodes in one tree. */
    static final String MAX_NODES = "max_nodes";
    /** Option: the sampling verification rule, {@code rrs} or {@code target_only}. */
    static final String SAMPLING_VERIFICATION = "sampling_verification";
    /** Option: caps the request's new tokens (never raises the platform's limit). */
    static final String MAX_NEW_TOKENS = "max_new_tokens";

    /** STree's {@code --npad 4}. */
    static final int DEFAULT_DEPTH = 4;
    /**
     * STree drafts with {@code --draft_num_beam 3} beams and merges them into a prefix tree: at most three
     * root-to-leaf paths. Three children at the root and one below gives the same node budget (12 at depth 4).
     */
    static final int[] DEFAULT_BRANCHING = {3, 1};
    static final int DEFAULT_MAX_NODES = 64;
    static final int MAX_DEPTH = 32;
    static final int MAX_BRANCHING = 64;
    static final int MAX_TREE_NODES = 1024;

    /** How sampled tokens are verified against the tree. */
    enum SamplingRule {
        /** Recursive rejection sampling over siblings drawn without replacement from the draft (the default). */
        RRS("rrs"),
        /** STree's {@code sampling_verification_tree}: sample the target, descend while it matches a child. */
        TARGET_ONLY("target_only");

        final String wireName;

        SamplingRule(String wireName) {
            this.wireName = wireName;
        }
    }

    static TreeOptions parse(Options options) {
        return parse(options, ModelResolver.none(null));
    }

    /** The options, with a {@code draft} resolved through {@code models} (a registry name, see ModelResolver). */
    static TreeOptions parse(Options options, ModelResolver models) {
        ModelRef draft = null;
        int draftLayers = 0;
        boolean hasDraft = options.has(DRAFT);
        boolean hasLayers = options.has(DRAFT_LAYERS);
        if (hasDraft && hasLayers) {
            throw ArborException.invalid("speculative-tree: give either option '" + DRAFT + "' (a draft model) or '"
                    + DRAFT_LAYERS + "' (the target's first N layers as the draft), not both");
        }
        if (!hasDraft && !hasLayers) {
            throw ArborException.invalid("speculative-tree needs a draft model: set option '" + DRAFT_LAYERS
                    + "' (e.g. 2: the target's first 2 layers, for llama2.c models on onnxruntime) or '" + DRAFT
                    + "' (the name of a model in the installation's model registry, e.g. \"draft\": \"NAME\")");
        }
        if (hasDraft) {
            draft = models.reference(DRAFT, options.raw(DRAFT).orElse(null));
        } else {
            draftLayers = options.integer(DRAFT_LAYERS, 0, 1, 1024);
        }
        int depth = options.integer(DEPTH, DEFAULT_DEPTH, 1, MAX_DEPTH);
        int[] branching = branching(options);
        int maxNodes = options.integer(MAX_NODES, DEFAULT_MAX_NODES, 1, MAX_TREE_NODES);
        String rule = options.string(SAMPLING_VERIFICATION, SamplingRule.RRS.wireName).trim()
                .toLowerCase(Locale.ROOT);
        SamplingRule sampling = switch (rule) {
            case "rrs" -> SamplingRule.RRS;
            case "target_only" -> SamplingRule.TARGET_ONLY;
            default -> throw ArborException.invalid("option '" + SAMPLING_VERIFICATION
                    + "' must be 'rrs' (recursive rejection sampling over siblings) or 'target_only' (STree's "
                    + "sample-the-target rule), got '" + options.string(SAMPLING_VERIFICATION, "") + "'");
        };
        int maxNewTokens = options.integer(MAX_NEW_TOKENS, Integer.MAX_VALUE, 0, Integer.MAX_VALUE);
        return new TreeOptions(draft, draftLayers, depth, branching, maxNodes, sampling, maxNewTokens);
    }

    /** Children per node at {@code depth} (the root is depth 0). */
    int branchingAt(int d) {
        return branching[Math.min(d, branching.length - 1)];
    }

    private static int[] branching(Options options) {
        Object raw = options.raw(BRANCHING).orElse(null);
        if (raw == null) {
            return DEFAULT_BRANCHING.clone();
        }
        int[] b;
        if (raw instanceof Number || raw instanceof String s && !s.contains(",")) {
            b = new int[] {options.integer(BRANCHING, 1, 1, MAX_BRANCHING)};
        } else {
            b = options.integers(BRANCHING);
        }
        if (b.length == 0 || b.length > MAX_DEPTH) {
            throw ArborException.invalid("option '" + BRANCHING + "' must be an integer or a list of 1 to " + MAX_DEPTH
                    + " integers (children per node at each depth), got '" + raw + "'");
        }
        for (int v : b) {
            if (v < 1 || v > MAX_BRANCHING) {
                throw ArborException.invalid("option '" + BRANCHING + "' entries must be between 1 and "
                        + MAX_BRANCHING + ", got " + Arrays.toString(b));
            }
        }
        return b;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TreeOptions t && java.util.Objects.equals(t.draft, draft) && t.draftLayers == draftLayers
                && t.depth == depth && Arrays.equals(t.branching, branching) && t.maxNodes == maxNodes
                && t.sampling == sampling && t.maxNewTokens == maxNewTokens;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(draft, draftLayers, depth, Arrays.hashCode(branching), maxNodes, sampling,
                maxNewTokens);
    }

    @Override
    public String toString() {
        return "TreeOptions[draft=" + (draft != null ? draft.path() : "target keep_layers=" + draftLayers)
                + ", depth=" + depth + ", branching=" + Arrays.toString(branching) + ", max_nodes=" + maxNodes
                + ", sampling_verification=" + sampling.wireName + "]";
    }
}
