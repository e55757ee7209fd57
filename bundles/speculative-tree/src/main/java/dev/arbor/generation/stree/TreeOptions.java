package dev.arbor.generation.stree;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.autoregressive.DecodeLimits;
import dev.arbor.autoregressive.ModelOptions;
import java.util.Arrays;
import java.util.Locale;

/**
 * The options of {@link SpeculativeTreeGenerator}, validated eagerly with messages that name the key, the value and
 * what is allowed.
 *
 * @param draft        the draft model ({@code draft}), or the target's first N layers ({@code draft_layers})
 * @param depth        the deepest drafted level (STree's {@code npad}, default 4)
 * @param branching    children per node at each depth 0..depth-1 (the last entry repeats)
 * @param maxNodes     the node budget of one tree (the root excluded)
 * @param sampling     the sampling verification rule (greedy decoding ignores it)
 * @param maxNewTokens the option {@code max_new_tokens}, or {@code Integer.MAX_VALUE}
 */
record TreeOptions(ModelOptions.DraftChoice draft, int depth, int[] branching, int maxNodes, SamplingRule sampling,
                   int maxNewTokens) {
    /** Option: drafted levels. */
    static final String DEPTH = "depth";
    /** Option: children per node, one integer for every level or a list per level. */
    static final String BRANCHING = "branching";
    /** Option: the most drafted nodes in one tree. */
    static final String MAX_NODES = "max_nodes";
    /** Option: the sampling verification rule, {@code rrs} or {@code target_only}. */
    static final String SAMPLING_VERIFICATION = "sampling_verification";

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
        ModelOptions.DraftChoice draft = ModelOptions.draft(options, models, "speculative-tree");
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
        int maxNewTokens = DecodeLimits.cap(options);
        return new TreeOptions(draft, depth, branching, maxNodes, sampling, maxNewTokens);
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
        return o instanceof TreeOptions t && java.util.Objects.equals(t.draft, draft)
                && t.depth == depth && Arrays.equals(t.branching, branching) && t.maxNodes == maxNodes
                && t.sampling == sampling && t.maxNewTokens == maxNewTokens;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(draft, depth, Arrays.hashCode(branching), maxNodes, sampling,
                maxNewTokens);
    }

    @Override
    public String toString() {
        return "TreeOptions[draft=" + (draft.layerSkip() ? "target keep_layers=" + draft.layers()
                : draft.model().path())
                + ", depth=" + depth + ", branching=" + Arrays.toString(branching) + ", max_nodes=" + maxNodes
                + ", sampling_verification=" + sampling.wireName + "]";
    }
}
