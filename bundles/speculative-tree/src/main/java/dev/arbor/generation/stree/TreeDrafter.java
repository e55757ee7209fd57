package dev.arbor.generation.stree;

import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.StateWrite;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.sampling.SamplingMath;
import java.util.Arrays;
import java.util.BitSet;
import java.util.random.RandomGenerator;

/**
 * Expands a {@link TokenTree} with the draft model, one draft forward per level, and keeps the draft's KV state in
 * step with the committed tokens.
 *
 * <p><b>State.</b> The draft state holds a prefix of the committed tokens; the rest ({@code pending}, always ending
 * with the root) is fed causally by the first forward of the next expansion, whose last row gives the root's draft
 * logits. Each further level feeds that level's nodes in one forward with an explicit tree mask (each node sees the
 * committed tokens, its ancestors' slots and itself, at position {@code committed - 1 + depth}) and appends them.
 * After verification the tree's slots are dropped with {@link DecodeState#truncate} and the newly committed tokens
 * (accepted path and final token) become pending: re-feeding them costs one short draft forward per step and needs
 * only truncate, not compact, from the draft's backend.
 *
 * <p><b>Children.</b> At each node the draft's logits go through the request's processor chain with the node's own
 * history (committed tokens plus the path to it), as the target's will. Then either the {@code k} best tokens are
 * taken (greedy and {@code target_only} verification; lowest id on ties, tokens at {@code -inf} never), or {@code k}
 * tokens are drawn one after another without replacement from {@code q = softmax(processed)}: each by inverse CDF
 * with one uniform over q with the tokens drawn before removed (what recursive rejection sampling needs). Fewer
 * than {@code k} children when fewer tokens remain possible. Nodes are expanded breadth first, and a level stops
 * adding children once the tree holds the step's node budget: {@code max_nodes}, cut so
 * that the tree's slots fit in the target's and the draft's context.
 */
final class TreeDrafter implements AutoCloseable {
    private final ModelBackend draft;
    private final DecodeState state;
    private int[] pending;
    private int committedSlots;
    private int forwards;
    private long forwardTokens;

    TreeDrafter(ModelBackend draft, int[] prompt) {
        this.draft = draft;
        this.state = draft.newState(1);
        this.pending = prompt.clone();
        this.committedSlots = 0;
    }

    /** Processes one row of draft logits for {@code node} and reports the children to add. */
    interface NodeProcessor {
        /** The draft logits of {@code node} after the request's processor chain (a fresh array). */
        float[] process(int node, float[] logits);
    }

    /**
     * Drafts up to {@code depth} levels and {@code maxNodes} nodes below the root of {@code tree} (which holds
     * only the root on entry); {@code options} gives the branching.
     *
     * @param draftDistributions receives, for every expanded node, the draft's processed distribution there (the
     *                           one its children were drawn from when {@code sampled}); indexed by node, grown as
     *                           needed and returned
     */
    double[][] expand(TokenTree tree, int depth, int maxNodes, TreeOptions options, boolean sampled,
                      NodeProcessor processor, RandomGenerator rng, double[][] draftDistributions) {
        if (tree.size() != 1) {
            throw new IllegalStateException("expand needs a tree that holds only its root");
        }
        float[] rootLogits = DecodeChecks.checkedCopy(draft.forward(ForwardRequest.next(new int[][] {pending}, state))
                .last(0), draft.card());
        forwards++;
        forwardTokens += pending.length;
        committedSlots = state.length();
        pending = new int[0];

        int[] frontier = {0};
        float[][] frontierLogits = {rootLogits};
        int[] draftSlot = new int[16];
        int budget = maxNodes;
        for (int d = 0; d < depth && budget > 0; d++) {
            int k = options.branchingAt(d);
            int[] level = new int[frontier.length * k];
            int added = 0;
            for (int i = 0; i < frontier.length && budget > 0; i++) {
                int node = frontier[i];
                float[] processed = processor.process(node, frontierLogits[i]);
                double[] q = Decoding.softmax(processed, "draft", node);
                if (node >= draftDistributions.length) {
                    draftDistributions = Arrays.copyOf(draftDistributions,
                            Math.max(node + 1, draftDistributions.length * 2));
                }
                draftDistributions[node] = q;
                int[] picks = sampled ? withoutReplacement(q, Math.min(k, budget), rng)
                        : topK(processed, Math.min(k, budget));
                for (int t : picks) {
                    level[added++] = tree.add(node, t);
                    budget--;
                }
            }
            level = Arrays.copyOf(level, added);
            if (added == 0) {
                break;
            }
            if (d + 1 < depth) {
                if (tree.size() > draftSlot.length) {
                    draftSlot = Arrays.copyOf(draftSlot, Math.max(tree.size(), draftSlot.length * 2));
                }
                frontierLogits = forwardLevel(tree, level, draftSlot);
            }
            frontier = level;
        }
        return draftDistributions;
    }

    /** Feeds one level of nodes with the tree mask; returns their logits in {@code level} order. */
    private float[][] forwardLevel(TokenTree tree, int[] level, int[] draftSlot) {
        int stateLength = state.length();
        int lq = level.length;
        int[] tokens = new int[lq];
        int[] positions = new int[lq];
        BitSet[] visible = new BitSet[lq];
        int[] rows = new int[lq];
        for (int j = 0; j < lq; j++) {
            int node = level[j];
            tokens[j] = tree.token(node);
            // committedSlots = committed length, so the root sits at committedSlots - 1.
            positions[j] = committedSlots - 1 + tree.depth(node);
            BitSet bits = new BitSet(stateLength + lq);
            bits.set(0, committedSlots);
            for (int a = tree.parent(node); a > 0; a = tree.parent(a)) {
                bits.set(draftSlot[a]);
            }
            bits.set(stateLength + j);
            visible[j] = bits;
            rows[j] = j;
            draftSlot[node] = stateLength + j;
        }
        float[][] logits = draft.forward(ForwardRequest.builder(new int[][] {tokens}).positions(new int[][] {positions})
                .attention(new AttentionSpec.Explicit(new BitSet[][] {visible})).state(state)
                .write(StateWrite.APPEND).logitRows(new int[][] {rows}).build()).logits()[0];
        forwards++;
        forwardTokens += lq;
        if (logits.length != lq) {
            throw new dev.arbor.api.ArborException(dev.arbor.api.ArborException.Kind.PLUGIN_FAILURE,
                    draft.card().name() + " returned " + logits.length + " logit rows for " + lq + " requested");
        }
        float[][] out = new float[lq][];
        for (int j = 0; j < lq; j++) {
            out[j] = DecodeChecks.checkedCopy(logits[j], draft.card());
        }
        return out;
    }

    /**
     * After a step: drops the tree's slots and queues {@code committed} (the tokens the step committed) to be fed
     * with the next expansion.
     */
    void commit(int[] committed) {
        if (state.length() > committedSlots) {
            state.truncate(committedSlots);
        }
        int[] p = Arrays.copyOf(pending, pending.length + committed.length);
        System.arraycopy(committed, 0, p, pending.length, committed.length);
        pending = p;
    }

    int forwards() {
        return forwards;
    }

    long forwardTokens() {
        return forwardTokens;
    }

    /** Up to {@code k} distinct tokens drawn one after another without replacement from {@code q}. */
    static int[] withoutReplacement(double[] q, int k, RandomGenerator rng) {
        double[] w = q.clone();
        int possible = 0;
        for (double v : w) {
            if (v > 0) {
                possible++;
            }
        }
        int n = Math.min(k, possible);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            int t = SamplingMath.inverseCdf(w, rng.nextDouble());
            out[i] = t;
            w[t] = 0;
        }
        return out;
    }

    /** The {@code k} largest processed logits (lowest id on ties), never a token at {@code -inf}. */
    static int[] topK(float[] processed, int k) {
        int[] order = SamplingMath.candidatesDescending(processed);
        return Arrays.copyOf(order, Math.min(k, order.length));
    }

    @Override
    public void close() {
        state.close();
    }
}
