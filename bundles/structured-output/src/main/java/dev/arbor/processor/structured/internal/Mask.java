package dev.arbor.processor.structured.internal;

/**
 * The tokens a grammar state allows, and for each allowed token (in id order) the fewest bytes that complete the
 * output after it (what budget forcing reads). Immutable.
 *
 * @param allowed  bit set over token ids
 * @param distance per allowed token, by rank in id order: bytes to acceptance after it, capped at 65535
 * @param count    number of allowed tokens
 * @param minDist  the smallest distance
 * @param maxDist  the largest distance
 */
record Mask(long[] allowed, char[] distance, int count, int minDist, int maxDist) {

    boolean allows(int token) {
        return (allowed[token >>> 6] & (1L << (token & 63))) != 0;
    }

    /** Approximate heap bytes, for the cache's bound. */
    long weight() {
        return 64L + allowed.length * 8L + distance.length * 2L;
    }
}
