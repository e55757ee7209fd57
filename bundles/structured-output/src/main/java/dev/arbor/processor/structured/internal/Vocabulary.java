package dev.arbor.processor.structured.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.Comparator;

/**
 * A tokenizer's vocabulary as a trie of {@link Tokenizer#tokenBytes token bytes}, built once per tokenizer: a mask
 * is computed by walking this trie with the recognizer, so tokens that share a prefix share the work and a prefix
 * the grammar rejects prunes its whole subtree. Tokens that append no bytes (special tokens) are not in the trie:
 * they are never allowed, except the end-of-sequence token, which is allowed exactly where the grammar accepts.
 */
final class Vocabulary {
    final int size;
    final int eos;
    /** The most bytes one token appends. */
    final int maxTokenBytes;
    final byte[][] bytes;
    // trie nodes; node 0 is the root (no bytes)
    final int[] firstChild;
    final int[] nextSibling;
    final byte[] edge;
    /** Tokens ending at a node: sortedIds[tokenStart[node] .. tokenEnd[node]). */
    final int[] tokenStart;
    final int[] tokenEnd;
    final int[] sortedIds;

    private Vocabulary(int size, int eos, int maxTokenBytes, byte[][] bytes, int[] firstChild, int[] nextSibling,
            byte[] edge, int[] tokenStart, int[] tokenEnd, int[] sortedIds) {
        this.size = size;
        this.eos = eos;
        this.maxTokenBytes = maxTokenBytes;
        this.bytes = bytes;
        this.firstChild = firstChild;
        this.nextSibling = nextSibling;
        this.edge = edge;
        this.tokenStart = tokenStart;
        this.tokenEnd = tokenEnd;
        this.sortedIds = sortedIds;
    }

    int nodes() {
        return firstChild.length;
    }

    static Vocabulary of(Tokenizer tokenizer) {
        int size = tokenizer.vocabSize();
        int eos = tokenizer.eosTokenId().orElseThrow(() -> new ArborException(ArborException.Kind.INCOMPATIBLE,
                "structured-output needs a tokenizer with an end-of-sequence token (to end the output where the"
                        + " grammar accepts); " + tokenizer + " has none"));
        byte[][] bytes = new byte[size][];
        int maxLen = 0;
        int inTrie = 0;
        for (int id = 0; id < size; id++) {
            bytes[id] = id == eos ? new byte[0] : tokenizer.tokenBytes(id);
            maxLen = Math.max(maxLen, bytes[id].length);
            if (bytes[id].length > 0) {
                inTrie++;
            }
        }
        Integer[] order = new Integer[inTrie];
        int k = 0;
        for (int id = 0; id < size; id++) {
            if (bytes[id].length > 0) {
                order[k++] = id;
            }
        }
        Arrays.sort(order, Comparator.comparing((Integer id) -> bytes[id], Arrays::compareUnsigned)
                .thenComparingInt(id -> id));
        int[] sorted = new int[inTrie];
        long total = 1;
        for (int i = 0; i < inTrie; i++) {
            sorted[i] = order[i];
            total += bytes[order[i]].length;
        }
        int cap = (int) Math.min(total, Integer.MAX_VALUE - 8);
        int[] firstChild = new int[cap];
        int[] nextSibling = new int[cap];
        int[] lastChild = new int[cap];
        byte[] edge = new byte[cap];
        int[] tokenStart = new int[cap];
        int[] tokenEnd = new int[cap];
        Arrays.fill(firstChild, -1);
        Arrays.fill(nextSibling, -1);
        Arrays.fill(lastChild, -1);
        int nodes = 1;
        int[] path = new int[maxLen + 1];
        byte[] previous = new byte[0];
        for (int i = 0; i < inTrie; i++) {
            byte[] b = bytes[sorted[i]];
            int common = Arrays.mismatch(previous, b);
            if (common < 0) {
                common = b.length; // same bytes as the previous token
            }
            common = Math.min(common, Math.min(previous.length, b.length));
            for (int d = common; d < b.length; d++) {
                int parent = path[d];
                int node = nodes++;
                edge[node] = b[d];
                if (lastChild[parent] < 0) {
                    firstChild[parent] = node;
                } else {
                    nextSibling[lastChild[parent]] = node;
                }
                lastChild[parent] = node;
                path[d + 1] = node;
            }
            int leaf = path[b.length];
            if (tokenEnd[leaf] == 0) {
                tokenStart[leaf] = i;
            }
            tokenEnd[leaf] = i + 1;
            previous = b;
        }
        return new Vocabulary(size, eos, maxLen, bytes, Arrays.copyOf(firstChild, nodes),
                Arrays.copyOf(nextSibling, nodes), Arrays.copyOf(edge, nodes), Arrays.copyOf(tokenStart, nodes),
                Arrays.copyOf(tokenEnd, nodes), sorted);
    }
}
