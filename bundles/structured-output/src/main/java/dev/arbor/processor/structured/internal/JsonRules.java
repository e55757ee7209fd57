package dev.arbor.processor.structured.internal;

import static dev.arbor.processor.structured.internal.Expr.alt;
import static dev.arbor.processor.structured.internal.Expr.literal;
import static dev.arbor.processor.structured.internal.Expr.opt;
import static dev.arbor.processor.structured.internal.Expr.ref;
import static dev.arbor.processor.structured.internal.Expr.seq;
import static dev.arbor.processor.structured.internal.Expr.star;

import java.util.LinkedHashMap;

/**
 * The JSON (RFC 8259) rules the {@code json_object} option and the schema front end share, with Arbor's whitespace
 * policy: the only whitespace allowed is ONE optional space after {@code :} and after {@code ,}. JSON allows any
 * amount anywhere, but a grammar that allows it lets a model that has not learned JSON spend its whole budget on
 * spaces and newlines (a well-known failure of unconstrained {@code ws*} rules); one optional space keeps both the
 * compact and the common {@code ", "} / {@code ": "} styles. Strings hold any character but {@code "}, {@code \} and
 * control characters, or an escape; numbers are RFC 8259 numbers.
 */
final class JsonRules {
    static final String VALUE = "json-value";
    static final String OBJECT = "json-object";
    static final String ARRAY = "json-array";
    static final String STRING = "json-string";
    static final String CHAR = "json-char";
    static final String NUMBER = "json-number";
    static final String INTEGER = "json-integer";
    static final String WS = "json-ws";

    private JsonRules() {
    }

    /** One unescaped string character: any scalar value but '"', '\' and U+0000..U+001F. */
    static Utf8Ranges unescaped() {
        return new Utf8Ranges().add(0, 0x1F).add('"', '"').add('\\', '\\').complement();
    }

    static Expr digits() {
        return Expr.Bytes.of('0', '9');
    }

    /** Adds the shared rules to {@code rules}. */
    static void addTo(LinkedHashMap<String, Expr> rules) {
        Expr hex = alt(Expr.Bytes.of('0', '9'), Expr.Bytes.of('a', 'f'), Expr.Bytes.of('A', 'F'));
        // \\uXXXX outside the surrogates D800..DFFF: every output is valid Unicode, and a string's length in
        // characters is its count of json-char (minLength/maxLength)
        Expr notD = alt(Expr.Bytes.of('0', '9'), Expr.Bytes.of('a', 'c'), Expr.Bytes.of('A', 'C'), bytesOf("eEfF"));
        Expr u = alt(seq(notD, hex, hex, hex), seq(bytesOf("dD"), Expr.Bytes.of('0', '7'), hex, hex));
        Expr escape = seq(literal("\\"), alt(bytesOf("\"\\/bfnrt"), seq(literal("u"), u)));
        rules.put(WS, opt(literal(" ")));
        rules.put(CHAR, alt(unescaped().toExpr(), escape));
        rules.put(STRING, seq(literal("\""), star(ref(CHAR)), literal("\"")));
        Expr natural = alt(literal("0"), seq(Expr.Bytes.of('1', '9'), star(digits())));
        rules.put(INTEGER, seq(opt(literal("-")), natural));
        rules.put(NUMBER, seq(ref(INTEGER), opt(seq(literal("."), new Expr.Repeat(digits(), 1, -1))),
                opt(seq(bytesOf("eE"), opt(bytesOf("+-")), new Expr.Repeat(digits(), 1, -1)))));
        rules.put(VALUE, alt(ref(OBJECT), ref(ARRAY), ref(STRING), ref(NUMBER), literal("true"), literal("false"),
                literal("null")));
        Expr member = seq(ref(STRING), literal(":"), ref(WS), ref(VALUE));
        rules.put(OBJECT, seq(literal("{"), opt(seq(member, star(seq(literal(","), ref(WS), member)))),
                literal("}")));
        rules.put(ARRAY, seq(literal("["), opt(seq(ref(VALUE), star(seq(literal(","), ref(WS), ref(VALUE))))),
                literal("]")));
    }

    static Expr bytesOf(String chars) {
        long[] bits = new long[4];
        for (char c : chars.toCharArray()) {
            bits[c >>> 6] |= 1L << (c & 63);
        }
        return new Expr.Bytes(bits);
    }

    /** The grammar of any JSON object (the {@code json_object} option). */
    static Grammar objectGrammar() {
        LinkedHashMap<String, Expr> rules = new LinkedHashMap<>();
        rules.put("root", ref(OBJECT));
        addTo(rules);
        return GrammarCompiler.compile("json_object", rules, "root");
    }
}
