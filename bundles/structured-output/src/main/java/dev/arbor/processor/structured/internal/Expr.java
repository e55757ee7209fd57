package dev.arbor.processor.structured.internal;

import java.util.List;

/**
 * The grammar form every front end (GBNF, regular expressions, JSON Schema) produces: expressions over BYTES, so
 * UTF-8 text and character classes are byte-level alternatives ({@link Utf8Ranges}). {@link GrammarCompiler}
 * lowers named rules of these expressions to the flat form the recognizer runs.
 */
sealed interface Expr {

    /** One byte out of a set (256 bits in four longs). */
    record Bytes(long[] bits) implements Expr {
        static Bytes of(int lo, int hi) {
            long[] bits = new long[4];
            for (int b = lo; b <= hi; b++) {
                bits[b >>> 6] |= 1L << (b & 63);
            }
            return new Bytes(bits);
        }

        boolean isEmpty() {
            return (bits[0] | bits[1] | bits[2] | bits[3]) == 0;
        }
    }

    /** The parts one after the other (empty: the empty string). */
    record Seq(List<Expr> parts) implements Expr {
    }

    /** Any one of the choices. */
    record Alt(List<Expr> choices) implements Expr {
    }

    /** {@code body} repeated min to max times; max -1 is unbounded. */
    record Repeat(Expr body, int min, int max) implements Expr {
    }

    /** A named rule; {@code where} says where the reference was written, for error messages. */
    record Ref(String name, String where) implements Expr {
    }

    Expr EMPTY = new Seq(List.of());

    static Expr literal(byte[] bytes) {
        if (bytes.length == 1) {
            return Bytes.of(bytes[0] & 0xFF, bytes[0] & 0xFF);
        }
        Expr[] parts = new Expr[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            parts[i] = Bytes.of(bytes[i] & 0xFF, bytes[i] & 0xFF);
        }
        return new Seq(List.of(parts));
    }

    static Expr literal(String text) {
        return literal(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    static Expr seq(Expr... parts) {
        return parts.length == 1 ? parts[0] : new Seq(List.of(parts));
    }

    static Expr alt(Expr... choices) {
        return choices.length == 1 ? choices[0] : new Alt(List.of(choices));
    }

    static Expr opt(Expr body) {
        return new Repeat(body, 0, 1);
    }

    static Expr star(Expr body) {
        return new Repeat(body, 0, -1);
    }

    static Expr ref(String name) {
        return new Ref(name, null);
    }
}
