package dev.arbor.models.llama2c;

import dev.arbor.api.ArborException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * run.c's greedy BPE merge loop (repeatedly merge the adjacent pair whose concatenation is a piece with the highest
 * score, the leftmost pair on equal scores) in O(n log n) instead of O(n²): the symbols form a linked list, every
 * mergeable adjacent pair sits in a max-heap ordered by (score, position), and a heap entry is checked when it is
 * popped (lazy invalidation, as sentencepiece's BPE model does), so each merge costs two heap pushes rather than a
 * rescan of the whole text. A heap entry is one long (score and position), checked against the current pair when
 * popped. The result is identical to run.c's loop, tie-breaking and {@code -1e10} floor included.
 * Immutable and thread-safe; {@link #merge} keeps its state on the stack.
 */
final class PairMerges {
    /** run.c starts its search at this score: a pair must score strictly above it to merge (NaN never does). */
    private static final float FLOOR = -1e10f;
    /** How many heap pops between checks of the calling thread's interrupt flag (a cancelled request). */
    private static final int CANCEL_CHECK_INTERVAL = 1 << 12;

    private final float[] scores;
    /** Open-addressing table: key (left id << 32 | right id) to the id of their concatenation; EMPTY = free slot. */
    private final long[] keys;
    private final int[] merged;
    private final int mask;
    private static final long EMPTY = -1L;

    /**
     * Every pair (a, b) whose piece bytes concatenate to a piece p scoring above run.c's floor, mapped to the lowest
     * id of p (the id run.c's lookup finds). Built by splitting each piece at every byte: a pair can only
     * concatenate to a piece if its halves are a split of it.
     */
    PairMerges(byte[][] pieces, float[] scores, Map<String, Integer> lowestId) {
        this.scores = scores;
        Map<String, List<Integer>> idsByPiece = new HashMap<>();
        for (int i = 0; i < pieces.length; i++) {
            idsByPiece.computeIfAbsent(key(pieces[i]), k -> new ArrayList<>(1)).add(i);
        }
        boolean emptyPiece = idsByPiece.containsKey("");
        List<long[]> found = new ArrayList<>();
        for (Map.Entry<String, Integer> e : lowestId.entrySet()) {
            int target = e.getValue();
            if (!(scores[target] > FLOOR)) {
                continue; // run.c never merges into it
            }
            String piece = e.getKey();
            int from = emptyPiece ? 0 : 1;
            int to = emptyPiece ? piece.length() : piece.length() - 1;
            for (int k = from; k <= to; k++) {
                List<Integer> left = idsByPiece.get(piece.substring(0, k));
                List<Integer> right = left == null ? null : idsByPiece.get(piece.substring(k));
                if (right == null) {
                    continue;
                }
                for (int a : left) {
                    for (int b : right) {
                        found.add(new long[] {pairKey(a, b), target});
                    }
                }
            }
        }
        int capacity = Integer.highestOneBit(Math.max(4, found.size() * 2 + 1)) << 1;
        this.keys = new long[capacity];
        this.merged = new int[capacity];
        this.mask = capacity - 1;
        java.util.Arrays.fill(keys, EMPTY);
        for (long[] f : found) {
            int slot = slot(f[0]);
            keys[slot] = f[0];
            merged[slot] = (int) f[1];
        }
    }

    /** The id that {@code left} followed by {@code right} merge into, or -1 when run.c would not merge them. */
    int mergedId(int left, int right) {
        long k = pairKey(left, right);
        int slot = slot(k);
        return keys[slot] == k ? merged[slot] : -1;
    }

    /**
     * Merges {@code tokens[0..n)} in place as run.c does and returns the new length.
     *
     * @throws ArborException (CANCELLED) when the calling thread is interrupted (its request was cancelled)
     */
    int merge(int[] tokens, int n) {
        if (n < 2) {
            return n;
        }
        // Symbols: node i starts as tokens[i]; a merge keeps the left node and unlinks the right one, so node
        // numbers stay in text order and the smallest node number of equal-score pairs is run.c's leftmost pair.
        int[] id = java.util.Arrays.copyOf(tokens, n);
        int[] next = new int[n];
        int[] prev = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        LongHeap heap = new LongHeap(3 * n);
        for (int i = 0; i + 1 < n; i++) {
            int target = mergedId(id[i], id[i + 1]);
            if (target >= 0) {
                heap.add(key(scores[target], i));
            }
        }
        heap.heapify();
        int pops = 0;
        while (heap.size > 0) {
            if (++pops % CANCEL_CHECK_INTERVAL == 0 && Thread.currentThread().isInterrupted()) {
                throw new ArborException(ArborException.Kind.CANCELLED, "tokenization stopped: the request was "
                        + "cancelled (its deadline passed or its client left)");
            }
            long top = heap.pop();
            int left = (int) top;
            int right = next[left];
            if (id[left] < 0 || right < 0) {
                continue; // stale: the left symbol was merged away or is now the last one
            }
            int target = mergedId(id[left], id[right]);
            // stale unless the pair now at 'left' merges with exactly the queued score: then it is that pair's
            // entry in all but name (same score, same position), and merging it now is what run.c does
            if (target < 0 || key(scores[target], left) != top) {
                continue;
            }
            id[left] = target;
            id[right] = -1;
            int after = next[right];
            next[left] = after;
            if (after >= 0) {
                prev[after] = left;
                offer(heap, id, left, after);
            }
            if (prev[left] >= 0) {
                offer(heap, id, prev[left], left);
            }
        }
        int m = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            tokens[m++] = id[i];
        }
        return m;
    }

    private void offer(LongHeap heap, int[] id, int left, int right) {
        int target = mergedId(id[left], id[right]);
        if (target >= 0) {
            heap.push(key(scores[target], left));
        }
    }

    /**
     * A heap key ordering the highest score first, then the leftmost node: the score's bits made order-preserving
     * as a signed int, inverted, above the node number. {@code + 0f} maps -0f to 0f, which run.c's '>' treats as
     * equal (a tie, leftmost wins); NaN never gets here (the table leaves out pieces that cannot merge).
     */
    private static long key(float score, int node) {
        int bits = Float.floatToIntBits(score + 0f);
        int ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF);
        return ((long) ~ordered << 32) | node;
    }

    private int slot(long k) {
        long h = k * 0x9E3779B97F4A7C15L;
        int slot = (int) (h ^ (h >>> 32)) & mask;
        while (keys[slot] != EMPTY && keys[slot] != k) {
            slot = (slot + 1) & mask;
        }
        return slot;
    }

    private static long pairKey(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private static String key(byte[] piece) {
        return new String(piece, StandardCharsets.ISO_8859_1);
    }

    /** A binary min-heap of longs (the queued pairs' keys). */
    private static final class LongHeap {
        final long[] keys;
        int size;

        LongHeap(int capacity) {
            keys = new long[Math.max(1, capacity)];
        }

        /** Appends without ordering; call {@link #heapify()} before the first pop. */
        void add(long key) {
            keys[size++] = key;
        }

        void heapify() {
            for (int i = (size >>> 1) - 1; i >= 0; i--) {
                siftDown(i, keys[i]);
            }
        }

        void push(long key) {
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (keys[parent] <= key) {
                    break;
                }
                keys[i] = keys[parent];
                i = parent;
            }
            keys[i] = key;
        }

        long pop() {
            long top = keys[0];
            long last = keys[--size];
            if (size > 0) {
                siftDown(0, last);
            }
            return top;
        }

        private void siftDown(int i, long key) {
            int half = size >>> 1;
            while (i < half) {
                int child = 2 * i + 1;
                if (child + 1 < size && keys[child + 1] < keys[child]) {
                    child++;
                }
                if (key <= keys[child]) {
                    break;
                }
                keys[i] = keys[child];
                i = child;
            }
            keys[i] = key;
        }
    }
}
