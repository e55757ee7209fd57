package dev.arbor.processor.structured.internal;

import static dev.arbor.processor.structured.internal.Expr.literal;
import static dev.arbor.processor.structured.internal.Expr.seq;

import java.util.ArrayList;
import java.util.List;

/**
 * Integers in a range as digit patterns (the classic range-to-regular-expression split, also in llama.cpp's
 * {@code _generate_min_max_int}): the range is cut where the number of digits changes, and each same-length piece
 * [A, B] into a common first digit, a run of full digit ranges, and the two ragged ends. No leading zeros, no -0.
 */
final class IntegerRanges {
    /** Bounds beyond ±10^18 are refused (they would not fit the arithmetic here). */
    static final long LIMIT = 1_000_000_000_000_000_000L;

    private IntegerRanges() {
    }

    /** Integers in [min, max]; Long.MIN_VALUE / Long.MAX_VALUE mean unbounded on that side. */
    static Expr range(long min, long max) {
        List<Expr> choices = new ArrayList<>();
        if (min < 0) {
            long magLo = max >= 0 ? 1 : -max;
            long magHi = min == Long.MIN_VALUE ? -1 : -min;
            choices.add(seq(literal("-"), natural(magLo, magHi)));
        }
        if (max >= 0) {
            choices.add(natural(Math.max(0, min), max == Long.MAX_VALUE ? -1 : max));
        }
        return choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices));
    }

    /** Naturals in [lo, hi]; hi -1 is unbounded. */
    static Expr natural(long lo, long hi) {
        int k = Long.toString(lo).length();
        if (hi < 0) {
            Expr longer = seq(Expr.Bytes.of('1', '9'), new Expr.Repeat(Expr.Bytes.of('0', '9'), k, -1));
            return k >= 18 ? longer : new Expr.Alt(List.of(natural(lo, pow10(k) - 1), longer));
        }
        List<Expr> choices = new ArrayList<>();
        for (int d = k; d <= Long.toString(hi).length(); d++) {
            long a = Math.max(lo, d == 1 ? 0 : pow10(d - 1));
            long b = Math.min(hi, d >= 19 ? Long.MAX_VALUE : pow10(d) - 1);
            if (a <= b) {
                choices.add(sameLength(Long.toString(a), Long.toString(b)));
            }
        }
        return choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices));
    }

    private static long pow10(int k) {
        long p = 1;
        for (int i = 0; i < k; i++) {
            p *= 10;
        }
        return p;
    }

    private static Expr sameLength(String a, String b) {
        if (a.equals(b)) {
            return literal(a);
        }
        int n = a.length();
        char a0 = a.charAt(0);
        char b0 = b.charAt(0);
        if (n == 1) {
            return Expr.Bytes.of(a0, b0);
        }
        String aRest = a.substring(1);
        String bRest = b.substring(1);
        if (a0 == b0) {
            return seq(literal(String.valueOf(a0)), sameLength(aRest, bRest));
        }
        boolean lowFull = aRest.chars().allMatch(c -> c == '0');
        boolean highFull = bRest.chars().allMatch(c -> c == '9');
        List<Expr> choices = new ArrayList<>();
        if (!lowFull) {
            choices.add(seq(literal(String.valueOf(a0)), sameLength(aRest, "9".repeat(n - 1))));
        }
        char from = lowFull ? a0 : (char) (a0 + 1);
        char to = highFull ? b0 : (char) (b0 - 1);
        if (from <= to) {
            choices.add(seq(Expr.Bytes.of(from, to), new Expr.Repeat(Expr.Bytes.of('0', '9'), n - 1, n - 1)));
        }
        if (!highFull) {
            choices.add(seq(literal(String.valueOf(b0)), sameLength("0".repeat(n - 1), bRest)));
        }
        return choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices));
    }
}
