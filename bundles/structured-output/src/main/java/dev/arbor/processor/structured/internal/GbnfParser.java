package dev.arbor.processor.structured.internal;

import dev.arbor.api.ArborException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * Parses a GBNF grammar (llama.cpp's {@code grammars/README.md} syntax) into {@link Expr} rules: {@code name ::= ...}
 * rules, {@code |} alternatives, sequences, {@code ( )} groups, {@code "literals"} with the escapes
 * {@code \n \r \t \\ \" \[ \] \xHH \u005CuHHHH \u005CUHHHHHHHH}, {@code [classes]} with ranges and {@code [^negation]},
 * {@code .} (any character), the quantifiers {@code * + ? {m} {m,} {m,n}}, and {@code #} comments. The start rule is
 * {@code root}. Unlike llama.cpp, a rule may continue on the next line anywhere (it ends where the next
 * {@code name ::=} begins). Errors name the line, the column and the rule.
 */
final class GbnfParser {
    private static final String WHAT = "grammar";
    private final String text;
    private int pos;
    private String rule = "?";

    private GbnfParser(String text) {
        this.text = text;
    }

    /** The rules of {@code text}, in definition order. */
    static LinkedHashMap<String, Expr> parse(String text) {
        return new GbnfParser(text).rules();
    }

    /** Parses and compiles with start rule {@code root}. */
    static Grammar compile(String text) {
        return GrammarCompiler.compile(WHAT, parse(text), "root");
    }

    private LinkedHashMap<String, Expr> rules() {
        LinkedHashMap<String, Expr> rules = new LinkedHashMap<>();
        skipSpace();
        if (pos >= text.length()) {
            throw ArborException.invalid(WHAT + ": the grammar is empty; write at least root ::= ...");
        }
        while (pos < text.length()) {
            int start = pos;
            String name = name();
            if (name.isEmpty()) {
                throw error("expected a rule name (letters, digits, '-', '_') followed by ::=");
            }
            rule = name;
            skipSpace();
            if (!text.startsWith("::=", pos)) {
                throw error("expected ::= after the rule name '" + name + "'");
            }
            pos += 3;
            Expr body = alternatives(false);
            if (rules.containsKey(name)) {
                pos = start;
                throw error("rule '" + name + "' is defined twice; merge its definitions with |");
            }
            rules.put(name, body);
            skipSpace();
        }
        return rules;
    }

    private Expr alternatives(boolean nested) {
        List<Expr> choices = new ArrayList<>();
        choices.add(sequence(nested));
        while (true) {
            skipSpace();
            if (pos < text.length() && text.charAt(pos) == '|') {
                pos++;
                choices.add(sequence(nested));
            } else {
                break;
            }
        }
        return choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices));
    }

    private Expr sequence(boolean nested) {
        List<Expr> parts = new ArrayList<>();
        while (true) {
            skipSpace();
            if (pos >= text.length()) {
                break;
            }
            char c = text.charAt(pos);
            if (c == '|' || c == ')') {
                if (c == ')' && !nested) {
                    throw error("unbalanced ')'");
                }
                break;
            }
            if (!nested && startsRule()) {
                break;
            }
            Expr term = term();
            parts.add(postfix(term));
        }
        return parts.size() == 1 ? parts.get(0) : new Expr.Seq(List.copyOf(parts));
    }

    private boolean startsRule() {
        int save = pos;
        String name = name();
        skipSpace();
        boolean rule = !name.isEmpty() && text.startsWith("::=", pos);
        pos = save;
        return rule;
    }

    private Expr term() {
        int start = pos;
        char c = text.charAt(pos);
        switch (c) {
            case '"' -> {
                pos++;
                StringBuilder sb = new StringBuilder();
                while (true) {
                    if (pos >= text.length()) {
                        pos = start;
                        throw error("unterminated string literal");
                    }
                    char d = text.charAt(pos);
                    if (d == '"') {
                        pos++;
                        break;
                    }
                    if (d == '\n') {
                        pos = start;
                        throw error("unterminated string literal (a literal ends on its line; write \\n)");
                    }
                    sb.appendCodePoint(character());
                }
                return Expr.literal(sb.toString());
            }
            case '[' -> {
                return charClass();
            }
            case '.' -> {
                pos++;
                return new Utf8Ranges().add(0, Utf8Ranges.MAX).toExpr();
            }
            case '(' -> {
                pos++;
                Expr inner = alternatives(true);
                skipSpace();
                if (pos >= text.length() || text.charAt(pos) != ')') {
                    pos = start;
                    throw error("unclosed '('");
                }
                pos++;
                return inner;
            }
            default -> {
                String name = name();
                if (name.isEmpty()) {
                    throw error("unexpected '" + new String(Character.toChars(text.codePointAt(pos)))
                            + "'; expected a \"literal\", a [class], '.', a rule name or '('");
                }
                return new Expr.Ref(name, "line " + line(start) + ", column " + column(start) + ", in rule '"
                        + rule + "'");
            }
        }
    }

    private Expr charClass() {
        int start = pos;
        pos++; // [
        boolean negated = pos < text.length() && text.charAt(pos) == '^';
        if (negated) {
            pos++;
        }
        Utf8Ranges set = new Utf8Ranges();
        while (true) {
            if (pos >= text.length() || text.charAt(pos) == '\n') {
                pos = start;
                throw error("unterminated character class");
            }
            if (text.charAt(pos) == ']') {
                pos++;
                break;
            }
            int lo = character();
            int hi = lo;
            if (pos + 1 < text.length() && text.charAt(pos) == '-' && text.charAt(pos + 1) != ']') {
                pos++;
                hi = character();
                if (hi < lo) {
                    pos = start;
                    throw error("character range out of order in class (end below start)");
                }
            }
            set.add(lo, hi);
        }
        Utf8Ranges chosen = negated ? set.complement() : set;
        Expr expr = chosen.toExpr();
        if (expr == null) {
            pos = start;
            throw error("character class matches no character");
        }
        return expr;
    }

    /** One (possibly escaped) character of a literal or class, as a code point. */
    private int character() {
        char c = text.charAt(pos);
        if (c != '\\') {
            int cp = text.codePointAt(pos);
            pos += Character.charCount(cp);
            return cp;
        }
        if (pos + 1 >= text.length()) {
            throw error("dangling backslash");
        }
        char e = text.charAt(pos + 1);
        pos += 2;
        return switch (e) {
            case 'n' -> '\n';
            case 'r' -> '\r';
            case 't' -> '\t';
            case '\\', '"', '[', ']', '-', '^', '.' -> e;
            case 'x' -> hex(2);
            case 'u' -> hex(4);
            case 'U' -> hex(8);
            default -> {
                pos -= 2;
                throw error("unknown escape \\" + e + " (known: \\n \\r \\t \\\\ \\\" \\[ \\] \\xHH \\uHHHH"
                        + " \\UHHHHHHHH)");
            }
        };
    }

    private int hex(int digits) {
        int start = pos - 2;
        if (pos + digits > text.length()) {
            pos = start;
            throw error("escape needs " + digits + " hex digits");
        }
        int value;
        try {
            value = Integer.parseInt(text.substring(pos, pos + digits), 16);
        } catch (NumberFormatException e) {
            pos = start;
            throw error("escape needs " + digits + " hex digits");
        }
        if (value > Utf8Ranges.MAX || (value >= 0xD800 && value <= 0xDFFF)) {
            pos = start;
            throw error("escape is not a Unicode scalar value");
        }
        pos += digits;
        return value;
    }

    private Expr postfix(Expr term) {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c == '*') {
                pos++;
                term = Expr.star(term);
            } else if (c == '+') {
                pos++;
                term = new Expr.Repeat(term, 1, -1);
            } else if (c == '?') {
                pos++;
                term = Expr.opt(term);
            } else if (c == '{') {
                int close = text.indexOf('}', pos);
                if (close < 0) {
                    throw error("unclosed '{' of a repetition");
                }
                String body = text.substring(pos + 1, close).replace(" ", "");
                int min;
                int max;
                try {
                    int comma = body.indexOf(',');
                    if (comma < 0) {
                        min = Integer.parseInt(body);
                        max = min;
                    } else {
                        min = Integer.parseInt(body.substring(0, comma));
                        max = comma == body.length() - 1 ? -1 : Integer.parseInt(body.substring(comma + 1));
                    }
                } catch (NumberFormatException e) {
                    throw error("a repetition is {m}, {m,} or {m,n} with non-negative integers");
                }
                if (min < 0 || (max >= 0 && max < min)) {
                    throw error("a repetition {m,n} needs 0 <= m <= n");
                }
                pos = close + 1;
                term = new Expr.Repeat(term, min, max);
            } else {
                break;
            }
        }
        return term;
    }

    private String name() {
        int start = pos;
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
                pos++;
            } else {
                break;
            }
        }
        return text.substring(start, pos);
    }

    private void skipSpace() {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c == '#') {
                while (pos < text.length() && text.charAt(pos) != '\n') {
                    pos++;
                }
            } else if (Character.isWhitespace(c)) {
                pos++;
            } else {
                break;
            }
        }
    }

    private int line(int at) {
        int line = 1;
        for (int i = 0; i < at && i < text.length(); i++) {
            if (text.charAt(i) == '\n') {
                line++;
            }
        }
        return line;
    }

    private int column(int at) {
        int lineStart = text.lastIndexOf('\n', Math.max(0, at - 1));
        if (at == 0) {
            lineStart = -1;
        }
        return at - lineStart;
    }

    private ArborException error(String message) {
        return ArborException.invalid(WHAT + ": line " + line(pos) + ", column " + column(pos) + " (rule '" + rule
                + "'): " + message);
    }
}
