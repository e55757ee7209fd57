package dev.arbor.api.model;

import java.util.BitSet;
import java.util.Objects;

/**
 * Which keys each new query row may see. Keys are the state's slots {@code 0..S-1} followed by the request's new
 * tokens {@code S..S+Lq-1}; a backend refuses a spec its {@link ModelCard} does not list as supported.
 */
public sealed interface AttentionSpec {

    /** Query j sees every state slot and new tokens 0..j (standard autoregressive attention). */
    record Causal() implements AttentionSpec {
    }

    /** Every query sees every state slot and every new token (bidirectional; masked diffusion). */
    record Full() implements AttentionSpec {
    }

    /**
     * Block-causal attention: query q sees key k iff {@code keySegment[b][k] <= querySegment[b][q]}.
     *
     * @param querySegment [batch][Lq] segment of each new token
     * @param keySegment   [batch][S+Lq] segment of each state slot and new token
     */
    record Segments(int[][] querySegment, int[][] keySegment) implements AttentionSpec {
        public Segments {
            Objects.requireNonNull(querySegment, "querySegment");
            Objects.requireNonNull(keySegment, "keySegment");
        }
    }

    /**
     * Per-query visibility (tree attention, prompt dropping): bit k of {@code visible[b][q]} set iff query q of row
     * b sees key k (state slots first, then new tokens).
     */
    record Explicit(BitSet[][] visible) implements AttentionSpec {
        public Explicit {
            Objects.requireNonNull(visible, "visible");
        }
    }

    /**
     * A base spec plus left padding: {@code newTokenValid[b][j]} false marks new token j of row b as padding,
     * which no query may see. The state remembers the validity of slots it already holds.
     */
    record WithPadding(AttentionSpec base, boolean[][] newTokenValid) implements AttentionSpec {
        public WithPadding {
            Objects.requireNonNull(base, "base");
            Objects.requireNonNull(newTokenValid, "newTokenValid");
            if (base instanceof WithPadding) {
                throw new IllegalArgumentException("padding cannot be nested");
            }
        }
    }

    AttentionSpec CAUSAL = new Causal();
    AttentionSpec FULL = new Full();

    /** The spec without padding. */
    default AttentionSpec base() {
        return this instanceof WithPadding p ? p.base() : this;
    }

    /** The capability a backend needs to honour this spec, or null when every backend must (causal). */
    default Capability requiredCapability() {
        if (this instanceof WithPadding p) {
            return p.base().requiredCapability() == null ? Capability.PADDING : p.base().requiredCapability();
        }
        if (this instanceof Full) {
            return Capability.FULL_ATTENTION;
        }
        if (this instanceof Segments) {
            return Capability.SEGMENT_MASK;
        }
        if (this instanceof Explicit) {
            return Capability.EXPLICIT_MASK;
        }
        return null;
    }
}
