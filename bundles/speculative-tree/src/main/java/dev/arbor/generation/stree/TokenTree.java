package dev.arbor.generation.stree;

import dev.arbor.api.model.AttentionSpec;
import java.util.Arrays;
import java.util.BitSet;

/**
 * A drafted token tree. Node 0 is the <i>root</i>: the last committed token, whose target logits give the
 * distribution of the first new token. Every other node is a drafted token with a parent; nodes are numbered in
 * breadth-first order (a parent always has a smaller index than its children, and depth never decreases with the
 * index), and each node's children are kept in the order they were drafted, which sampling verification relies on.
 *
 * <p>The tree is flattened for the target's single verification forward the way STree does it
 * ({@code github.com/wyc1997/stree @021b0ec : mamba_ssm/utils/tree_verification.py}, the ancestor mask of its
 * {@code TokenTree}; METHODS.md §3.11): the new tokens are {@code pending} committed tokens not yet in the state,
 * then the root, then nodes 1..N; node i sees the state, the pending tokens, the root, its ancestors and itself, at
 * position {@code rootPosition + depth(i)}.
 */
final class TokenTree {
    private int[] token = new int[16];
    private int[] parent = new int[16];
    private int[] depth = new int[16];
    private int[][] children = new int[16][];
    private int[] childCount = new int[16];
    private int size;

    TokenTree(int rootToken) {
        add(-1, rootToken);
    }

    /** Adds a child of {@code parentNode} holding {@code tokenId}; returns its index. */
    int add(int parentNode, int tokenId) {
        if (parentNode >= size || (parentNode < 0 && size > 0)) {
            throw new IllegalArgumentException("parent node " + parentNode + " does not exist in a tree of " + size);
        }
        if (parentNode >= 0 && depth[parentNode] + 1 < depth[size - 1]) {
            throw new IllegalArgumentException("nodes must be added in breadth-first order: a child of node "
                    + parentNode + " would be shallower than the last node added");
        }
        if (size == token.length) {
            int n = size * 2;
            token = Arrays.copyOf(token, n);
            parent = Arrays.copyOf(parent, n);
            depth = Arrays.copyOf(depth, n);
            children = Arrays.copyOf(children, n);
            childCount = Arrays.copyOf(childCount, n);
        }
        int node = size++;
        token[node] = tokenId;
        parent[node] = parentNode;
        depth[node] = parentNode < 0 ? 0 : depth[parentNode] + 1;
        if (parentNode >= 0) {
            int[] c = children[parentNode];
            if (c == null) {
                c = new int[4];
            } else if (childCount[parentNode] == c.length) {
                c = Arrays.copyOf(c, c.length * 2);
            }
            c[childCount[parentNode]++] = node;
            children[parentNode] = c;
        }
        return node;
    }

    /** Nodes including the root. */
    int size() {
        return size;
    }

    /** Drafted nodes (the root excluded). */
    int drafted() {
        return size - 1;
    }

    int token(int node) {
        return token[node];
    }

    int parent(int node) {
        return parent[node];
    }

    int depth(int node) {
        return depth[node];
    }

    /** The children of {@code node} in the order they were drafted. */
    int[] children(int node) {
        return children[node] == null ? new int[0] : Arrays.copyOf(children[node], childCount[node]);
    }

    /** The nodes from depth 1 down to {@code node} (empty for the root). */
    int[] path(int node) {
        int[] out = new int[depth[node]];
        for (int n = node; n > 0; n = parent[n]) {
            out[depth[n] - 1] = n;
        }
        return out;
    }

    /** The tokens of {@link #path}. */
    int[] pathTokens(int node) {
        int[] nodes = path(node);
        int[] out = new int[nodes.length];
        for (int i = 0; i < nodes.length; i++) {
            out[i] = token[nodes[i]];
        }
        return out;
    }

    /** The nodes at {@code d}, in index order. */
    int[] nodesAtDepth(int d) {
        int n = 0;
        for (int i = 0; i < size; i++) {
            if (depth[i] == d) {
                n++;
            }
        }
        int[] out = new int[n];
        n = 0;
        for (int i = 0; i < size; i++) {
            if (depth[i] == d) {
                out[n++] = i;
            }
        }
        return out;
    }

    /** Nodes with no children. */
    int[] leaves() {
        int n = 0;
        int[] out = new int[size];
        for (int i = 0; i < size; i++) {
            if (childCount[i] == 0) {
                out[n++] = i;
            }
        }
        return Arrays.copyOf(out, n);
    }

    /** The verification forward's new tokens: {@code pending}, then the root, then nodes 1..N. */
    int[] flatTokens(int[] pending) {
        int[] out = Arrays.copyOf(pending, pending.length + size);
        System.arraycopy(token, 0, out, pending.length, size);
        return out;
    }

    /**
     * The ancestor mask of the verification forward over {@link #flatTokens}, for a state of {@code stateLength}
     * slots: pending token j sees the state and pending tokens 0..j (causal); the root and every node see the state,
     * all pending tokens, and their own root-to-node path.
     */
    AttentionSpec.Explicit attention(int stateLength, int pendingCount) {
        int lq = pendingCount + size;
        BitSet[] rows = new BitSet[lq];
        for (int j = 0; j < pendingCount; j++) {
            rows[j] = new BitSet(stateLength + lq);
            rows[j].set(0, stateLength + j + 1);
        }
        int base = stateLength + pendingCount;
        for (int node = 0; node < size; node++) {
            BitSet row = new BitSet(stateLength + lq);
            row.set(0, base);
            for (int n = node; n >= 0; n = parent[n]) {
                row.set(base + n);
            }
            rows[pendingCount + node] = row;
        }
        return new AttentionSpec.Explicit(new BitSet[][] {rows});
    }

    /**
     * Position ids of the verification forward: pending token j at {@code stateLength + j}, node i at
     * {@code stateLength + pendingCount + depth(i)} (the root's position is the committed length minus one).
     */
    int[][] positions(int stateLength, int pendingCount) {
        int[] out = new int[pendingCount + size];
        for (int j = 0; j < pendingCount; j++) {
            out[j] = stateLength + j;
        }
        for (int node = 0; node < size; node++) {
            out[pendingCount + node] = stateLength + pendingCount + depth[node];
        }
        return new int[][] {out};
    }

    /** The slots to keep after verification: the state, the pending tokens, the root and the accepted path. */
    int[] keepSlots(int stateLength, int pendingCount, int[] acceptedPath) {
        int base = stateLength + pendingCount;
        int[] keep = new int[base + 1 + acceptedPath.length];
        for (int i = 0; i <= base; i++) {
            keep[i] = i;
        }
        for (int i = 0; i < acceptedPath.length; i++) {
            keep[base + 1 + i] = base + acceptedPath[i];
        }
        return keep;
    }
}
