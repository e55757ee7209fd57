package dev.arbor.generation.stree;

import dev.arbor.sampling.SamplingMath;
import java.util.random.RandomGenerator;

/**
 * Decides which root-to-node path of a drafted {@link TokenTree} the target accepts and which token follows it.
 * Every verifier walks from the root; at each node it either moves to one child (that token is accepted) or stops
 * with a final token that is not a child it moved to (a correction, or a bonus token at a leaf).
 */
interface TreeVerifier {

    /** What a verifier reads: the tree and the processed target (and, when drafted by sampling, draft) rows. */
    interface View {
        TokenTree tree();

        /** The target's logits at {@code node} after the request's processor chain (node's own history). */
        float[] targetProcessed(int node);

        /** softmax of {@link #targetProcessed}, in double. */
        double[] targetProbabilities(int node);

        /**
         * The draft's processed distribution (softmax, double) at an expanded {@code node}: the one its children were
         * drawn from when the tree was drafted by sampling.
         */
        double[] draftProbabilities(int node);
    }

    /**
     * The outcome of one verification.
     *
     * @param accepted   the accepted nodes, depth 1 first (empty when the first draft token was rejected)
     * @param finalToken the token emitted after them
     * @param finalNode  the node whose target distribution the final token stands for (the last accepted node, or
     *                   the root)
     */
    record Verdict(int[] accepted, int finalToken, int finalNode) {
    }

    /** A name for stats and messages. */
    String name();

    /**
     * True when the tree must be drafted by sampling each node's children <i>without replacement</i> from the draft's
     * processed distribution (what {@link RecursiveRejection} needs to be exact); false: the top-k draft tokens.
     */
    boolean sampledChildren();

    /** Verifies {@code view}'s tree, drawing uniforms (if any) from {@code rng}. */
    Verdict verify(View view, RandomGenerator rng);

    /**
     * Greedy verification: at each node take the target's argmax of the processed logits (lowest id on ties, the
     * rule of the {@code greedy} selector); move to the child holding it, or stop and emit it. The output is the
     * target's greedy continuation token for token, whatever the draft (STree's {@code verify_beam_search_tree}
     * with one target beam, {@code mamba_ssm/utils/tree_verification.py}). Draws nothing.
     */
    final class Greedy implements TreeVerifier {
        static final Greedy INSTANCE = new Greedy();

        @Override
        public String name() {
            return "greedy";
        }

        @Override
        public boolean sampledChildren() {
            return false;
        }

        @Override
        public Verdict verify(View view, RandomGenerator rng) {
            TokenTree tree = view.tree();
            int node = 0;
            int[] path = new int[tree.size()];
            int accepted = 0;
            while (true) {
                int t = SamplingMath.argmax(view.targetProcessed(node));
                int next = childWithToken(tree, node, t);
                if (next < 0) {
                    return new Verdict(java.util.Arrays.copyOf(path, accepted), t, node);
                }
                path[accepted++] = next;
                node = next;
            }
        }
    }

    /**
     * STree's {@code sampling_verification_tree} ({@code github.com/wyc1997/stree @021b0ec :
     * mamba_ssm/utils/tree_verification.py}; METHODS.md §3.11): at each node draw {@code t ~ p_target(node)} with
     * one uniform; move to the child holding {@code t}, or stop and emit it. Exact for any tree, since every emitted
     * token is a target sample given its prefix; the tree is the draft's top-k tokens, which maximises the chance
     * {@code sum_children p(c)} of moving on when the draft ranks like the target.
     */
    final class TargetOnly implements TreeVerifier {
        static final TargetOnly INSTANCE = new TargetOnly();

        @Override
        public String name() {
            return "target_only";
        }

        @Override
        public boolean sampledChildren() {
            return false;
        }

        @Override
        public Verdict verify(View view, RandomGenerator rng) {
            TokenTree tree = view.tree();
            int node = 0;
            int[] path = new int[tree.size()];
            int accepted = 0;
            while (true) {
                int t = SamplingMath.inverseCdf(view.targetProbabilities(node), rng.nextDouble());
                int next = childWithToken(tree, node, t);
                if (next < 0) {
                    return new Verdict(java.util.Arrays.copyOf(path, accepted), t, node);
                }
                path[accepted++] = next;
                node = next;
            }
        }
    }

    /**
     * Recursive rejection sampling over siblings, the multi-draft form of the Leviathan/Chen accept/reject step
     * (METHODS.md §2.2): SpecInfer's multi-step speculative sampling (Miao et al., 2024) with the draft side
     * <i>without replacement</i> as in Recursive Speculative Decoding (Jeon et al., 2024, arXiv:2402.14160) and
     * Sequoia (Chen et al., 2024, arXiv:2402.12374); the same update as STree's
     * {@code TokenTree.multi_step_speculative_sampling} ({@code mamba_ssm/utils/tree_verification.py @021b0ec}).
     *
     * <p>At a node with target distribution {@code p} and draft distribution {@code q}, whose children
     * {@code c_1..c_k} were drawn in this order without replacement from {@code q}: for i = 1..k draw {@code u};
     * accept {@code c_i} if {@code u < p(c_i)/q(c_i)} and continue at {@code c_i}; otherwise set
     * {@code p <- norm(max(0, p - q))} and {@code q <- norm(q with c_i removed)} (q before the removal is the
     * distribution c_i was drawn from, q after it the one c_{i+1} was drawn from). If no child is accepted, draw the
     * final token from the last {@code p}; at a leaf, from the node's {@code p}. <b>Exactness</b> (induction over
     * the siblings): step i accepts token x with probability {@code min(p(x), q(x))} and rejects with
     * {@code beta = sum max(0, p - q)}, after which the rest of the procedure emits {@code norm(max(0, p - q))};
     * their sum is {@code p}, whichever tokens were drawn. This needs the children to really be draws without
     * replacement from {@code q} (a top-k tree would bias it), which {@link #sampledChildren} asks the drafter for.
     *
     * <p>If rounding leaves a residual of zero total mass (p and q equal, where rejection has probability 0 in exact
     * arithmetic), {@code p} is kept unchanged. Uniforms: one per sibling tried, plus one for a final draw.
     */
    final class RecursiveRejection implements TreeVerifier {
        static final RecursiveRejection INSTANCE = new RecursiveRejection();

        @Override
        public String name() {
            return "rrs";
        }

        @Override
        public boolean sampledChildren() {
            return true;
        }

        @Override
        public Verdict verify(View view, RandomGenerator rng) {
            TokenTree tree = view.tree();
            int node = 0;
            int[] path = new int[tree.size()];
            int accepted = 0;
            while (true) {
                double[] p = view.targetProbabilities(node);
                int[] children = tree.children(node);
                if (children.length == 0) {
                    int t = SamplingMath.inverseCdf(p, rng.nextDouble());
                    return new Verdict(java.util.Arrays.copyOf(path, accepted), t, node);
                }
                p = p.clone();
                double[] q = view.draftProbabilities(node).clone();
                int next = -1;
                for (int child : children) {
                    int x = tree.token(child);
                    double u = rng.nextDouble();
                    if (u * q[x] < p[x]) {
                        next = child;
                        break;
                    }
                    residual(p, q);
                    q[x] = 0;
                    normalise(q);
                }
                if (next < 0) {
                    int t = SamplingMath.inverseCdf(p, rng.nextDouble());
                    return new Verdict(java.util.Arrays.copyOf(path, accepted), t, node);
                }
                path[accepted++] = next;
                node = next;
            }
        }

        /** {@code p <- norm(max(0, p - q))}, in place; unchanged when that has no mass. */
        static void residual(double[] p, double[] q) {
            double sum = 0;
            for (int i = 0; i < p.length; i++) {
                sum += Math.max(0, p[i] - q[i]);
            }
            if (!(sum > 0)) {
                return;
            }
            for (int i = 0; i < p.length; i++) {
                p[i] = Math.max(0, p[i] - q[i]) / sum;
            }
        }

        static void normalise(double[] q) {
            double sum = 0;
            for (double v : q) {
                sum += v;
            }
            if (sum > 0) {
                for (int i = 0; i < q.length; i++) {
                    q[i] /= sum;
                }
            }
        }
    }

    /** The child of {@code node} holding {@code token}, or -1. */
    static int childWithToken(TokenTree tree, int node, int token) {
        for (int c : tree.children(node)) {
            if (tree.token(c) == token) {
                return c;
            }
        }
        return -1;
    }
}
