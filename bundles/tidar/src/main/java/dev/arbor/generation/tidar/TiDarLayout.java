package dev.arbor.generation.tidar;

import dev.arbor.api.model.AttentionSpec;
import java.util.BitSet;

/**
 * The input of one TiDAR forward (METHODS.md §3.10) and where its rows are, for a state holding the first
 * {@code stateLength} committed tokens at positions {@code 0..stateLength-1}.
 *
 * <p><b>New tokens</b>, in this order:
 * <ol>
 *   <li>the causal section: the {@code pending} committed tokens the state does not hold yet (the prompt at the
 *       first forward, afterwards the one token emitted by the previous step), then the drafts {@code d_1..d_d};
 *       token i at position {@code stateLength + i}, causal attention. With {@code m} the position of the last
 *       pending token, draft j sits at {@code m + j};</li>
 *   <li>{@code d + 1} blocks of {@code blockLength} MASKs: block a (a = 0..d, the branch "a drafts accepted") holds
 *       its masks at positions {@code m + a + 1 .. m + a + blockLength} and sees the state, the pending tokens,
 *       {@code d_1..d_a} and every MASK of its own block; mask i of block a predicts the token at
 *       {@code m + a + 2 + i}, i.e. draft i + 1 of the next step when that step starts after a accepted drafts
 *       (the token at {@code m + a + 1} is the one the AR rows emit now, which the block cannot know).</li>
 * </ol>
 * Positions repeat across blocks (block a and block a + 1 overlap by all but one position); the
 * {@link AttentionSpec.Explicit} mask keeps them apart. Keys are the state slots followed by the new tokens.
 *
 * <p><b>Rows.</b> AR row i ({@code i = 0..d}) is the new token {@code pending - 1 + i}: the last pending token's row
 * gives {@code p_0}, which verifies {@code d_1}; the row of {@code d_i} gives {@code p_i}; {@code p_d} is the bonus
 * distribution. After the step keeps {@code a} drafts, the first {@code stateLength + pending + a} slots are exactly
 * the committed tokens computed under causal attention, so truncating the state to that length drops every other
 * draft and every MASK.
 *
 * @param stateLength committed tokens already in the state
 * @param pending     committed tokens fed now (at least 1)
 * @param drafts      draft tokens {@code d_1..d_d}
 * @param blockLength MASKs per block (0: no blocks, no next drafts)
 * @param maskToken   the model's MASK id
 */
record TiDarLayout(int stateLength, int[] pending, int[] drafts, int blockLength, int maskToken) {

    TiDarLayout {
        if (pending.length < 1) {
            throw new IllegalArgumentException("a TiDAR forward feeds at least one committed token");
        }
        if (blockLength < 0) {
            throw new IllegalArgumentException("block length must not be negative, got " + blockLength);
        }
    }

    /** Number of drafts verified by this forward. */
    int draftCount() {
        return drafts.length;
    }

    /** Number of MASK blocks: one per possible acceptance count, none without a block length. */
    int blockCount() {
        return blockLength == 0 ? 0 : drafts.length + 1;
    }

    /** Length of the causal section (pending tokens and drafts). */
    int causalLength() {
        return pending.length + drafts.length;
    }

    /** Number of new tokens. */
    int queryLength() {
        return causalLength() + blockCount() * blockLength;
    }

    /** Slots the state holds after the forward appended every new token. */
    int slotsAfterForward() {
        return stateLength + queryLength();
    }

    /** Position of the last pending token ({@code m}). */
    int lastCommittedPosition() {
        return stateLength + pending.length - 1;
    }

    /** Index among the new tokens of MASK {@code i} of block {@code a}. */
    int maskIndex(int a, int i) {
        return causalLength() + a * blockLength + i;
    }

    /** The new tokens: pending, drafts, then the MASK blocks. */
    int[] tokens() {
        int[] t = new int[queryLength()];
        System.arraycopy(pending, 0, t, 0, pending.length);
        System.arraycopy(drafts, 0, t, pending.length, drafts.length);
        java.util.Arrays.fill(t, causalLength(), t.length, maskToken);
        return t;
    }

    /** Position ids of the new tokens (see the class comment). */
    int[] positions() {
        int[] p = new int[queryLength()];
        for (int j = 0; j < causalLength(); j++) {
            p[j] = stateLength + j;
        }
        int m = lastCommittedPosition();
        for (int a = 0; a < blockCount(); a++) {
            for (int i = 0; i < blockLength; i++) {
                p[maskIndex(a, i)] = m + a + 1 + i;
            }
        }
        return p;
    }

    /** The explicit mask: bit k of query q set iff q sees key k (state slots, then new tokens). */
    BitSet[] visibility() {
        int s = stateLength;
        BitSet[] visible = new BitSet[queryLength()];
        for (int q = 0; q < causalLength(); q++) {
            visible[q] = new BitSet(s + queryLength());
            visible[q].set(0, s + q + 1);
        }
        for (int a = 0; a < blockCount(); a++) {
            int first = maskIndex(a, 0);
            for (int i = 0; i < blockLength; i++) {
                BitSet v = new BitSet(s + queryLength());
                v.set(0, s + pending.length + a);            // state, pending tokens, d_1..d_a
                v.set(s + first, s + first + blockLength);   // its own block, bidirectionally
                visible[first + i] = v;
            }
        }
        return visible;
    }

    /** {@link #visibility()} as the request's attention for one row. */
    AttentionSpec attention() {
        return new AttentionSpec.Explicit(new BitSet[][] {visibility()});
    }

    /**
     * The rows whose logits the forward returns: the {@code d + 1} AR rows first, then every MASK, block by block.
     */
    int[] logitRows() {
        int[] rows = new int[drafts.length + 1 + blockCount() * blockLength];
        for (int i = 0; i <= drafts.length; i++) {
            rows[i] = pending.length - 1 + i;
        }
        for (int j = 0; j < blockCount() * blockLength; j++) {
            rows[drafts.length + 1 + j] = causalLength() + j;
        }
        return rows;
    }

    /** Index in {@link #logitRows()} of MASK {@code i} of block {@code a}. */
    int maskRow(int a, int i) {
        return drafts.length + 1 + a * blockLength + i;
    }
}
