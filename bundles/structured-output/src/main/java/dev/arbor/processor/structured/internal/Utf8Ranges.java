package dev.arbor.processor.structured.internal;

import java.util.ArrayList;
import java.util.List;

/**
 * A set of Unicode scalar values (code points without the surrogates, which UTF-8 cannot encode) as sorted disjoint
 * ranges, and its translation into byte-level alternatives: each range is split until every piece is a sequence of
 * byte ranges (the construction of RE2 and Rust's {@code utf8-ranges}), and all one-byte pieces merge into a single
 * byte set.
 */
final class Utf8Ranges {
    static final int MAX = 0x10FFFF;
    private final List<int[]> ranges = new ArrayList<>();

    /** Adds [lo, hi]; surrogates are left out. */
    Utf8Ranges add(int lo, int hi) {
        if (lo > hi) {
            return this;
        }
        if (lo <= 0xDFFF && hi >= 0xD800) {
            add(lo, 0xD7FF);
            add(0xE000, hi);
            return this;
        }
        ranges.add(new int[] {lo, hi});
        normalize();
        return this;
    }

    Utf8Ranges addAll(Utf8Ranges other) {
        for (int[] r : other.ranges) {
            add(r[0], r[1]);
        }
        return this;
    }

    /** The members of both sets. */
    Utf8Ranges intersect(Utf8Ranges other) {
        return complement().addAll(other.complement()).complement();
    }

    boolean contains(int cp) {
        for (int[] r : ranges) {
            if (cp >= r[0] && cp <= r[1]) {
                return true;
            }
        }
        return false;
    }

    boolean isEmpty() {
        return ranges.isEmpty();
    }

    /** Every scalar value not in this set. */
    Utf8Ranges complement() {
        Utf8Ranges out = new Utf8Ranges();
        int next = 0;
        for (int[] r : ranges) {
            out.add(next, r[0] - 1);
            next = r[1] + 1;
        }
        out.add(next, MAX);
        return out;
    }

    private void normalize() {
        ranges.sort((a, b) -> Integer.compare(a[0], b[0]));
        List<int[]> merged = new ArrayList<>();
        for (int[] r : ranges) {
            int[] last = merged.isEmpty() ? null : merged.get(merged.size() - 1);
            if (last != null && r[0] <= last[1] + 1) {
                last[1] = Math.max(last[1], r[1]);
            } else {
                merged.add(new int[] {r[0], r[1]});
            }
        }
        ranges.clear();
        ranges.addAll(merged);
    }

    /** The byte-level expression matching the UTF-8 of exactly one member; null when the set is empty. */
    Expr toExpr() {
        long[] single = new long[4];
        List<Expr> multi = new ArrayList<>();
        for (int[] r : ranges) {
            split(r[0], r[1], single, multi);
        }
        List<Expr> choices = new ArrayList<>();
        Expr.Bytes ascii = new Expr.Bytes(single);
        if (!ascii.isEmpty()) {
            choices.add(ascii);
        }
        choices.addAll(multi);
        if (choices.isEmpty()) {
            return null;
        }
        return choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices));
    }

    private static void split(int lo, int hi, long[] single, List<Expr> multi) {
        int[] bounds = {0x7F, 0x7FF, 0xFFFF};
        for (int bound : bounds) {
            if (lo <= bound && hi > bound) {
                split(lo, bound, single, multi);
                split(bound + 1, hi, single, multi);
                return;
            }
        }
        if (hi <= 0x7F) {
            for (int b = lo; b <= hi; b++) {
                single[b >>> 6] |= 1L << (b & 63);
            }
            return;
        }
        int n = length(lo);
        for (int i = 1; i < n; i++) {
            int m = (1 << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m)) {
                if ((lo & m) != 0) {
                    split(lo, lo | m, single, multi);
                    split((lo | m) + 1, hi, single, multi);
                    return;
                }
                if ((hi & m) != m) {
                    split(lo, (hi & ~m) - 1, single, multi);
                    split(hi & ~m, hi, single, multi);
                    return;
                }
            }
        }
        byte[] a = encode(lo);
        byte[] b = encode(hi);
        Expr[] parts = new Expr[n];
        for (int i = 0; i < n; i++) {
            parts[i] = Expr.Bytes.of(a[i] & 0xFF, b[i] & 0xFF);
        }
        multi.add(new Expr.Seq(List.of(parts)));
    }

    private static int length(int cp) {
        return cp <= 0x7F ? 1 : cp <= 0x7FF ? 2 : cp <= 0xFFFF ? 3 : 4;
    }

    static byte[] encode(int cp) {
        return new String(Character.toChars(cp)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
}
