package dev.arbor.processor.structured.internal;

import dev.arbor.api.ArborException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * Translates a regular expression, in {@link java.util.regex.Pattern}'s syntax and meaning with default flags, into
 * {@link Expr} over UTF-8 bytes; the whole output must match (as {@code Pattern.matches}). Supported: literals,
 * escapes ({@code \t \n \r \f \e \a \xHH \u005CuHHHH \x{H..}} and escaped metacharacters), classes with ranges and
 * negation, {@code \d \D \w \W \s \S} (ASCII, as Pattern without UNICODE_CHARACTER_CLASS), {@code .} (any character
 * but the line terminators \n \r U+0085 U+2028 U+2029), groups (capturing, {@code (?:...)}, named), alternation,
 * the greedy quantifiers {@code * + ? {m} {m,} {m,n}}, and {@code ^}/{@code $} at the very start/end (the whole
 * output is matched anyway). Refused, naming the construct: lookaround, backreferences, lazy and possessive
 * quantifiers, inline flags, word boundaries and other anchors, class intersections and nested classes,
 * {@code \p{..}} properties.
 */
final class RegexParser {
    private static final String WHAT = "regex";
    private final String text;
    private final java.util.function.Function<Utf8Ranges, Expr> chars;
    private int pos;
    private int lastSingle;
    private int singleEscape;

    private RegexParser(String text, java.util.function.Function<Utf8Ranges, Expr> chars) {
        this.text = text;
        this.chars = chars;
    }

    static Grammar compile(String regex) {
        LinkedHashMap<String, Expr> rules = new LinkedHashMap<>();
        rules.put("root", parse(regex));
        return GrammarCompiler.compile(WHAT, rules, "root");
    }

    static Expr parse(String regex) {
        return parse(regex, Utf8Ranges::toExpr);
    }

    /**
     * Parses {@code regex}, turning each set of characters it matches into an expression with {@code chars} (the
     * JSON Schema front end writes them as JSON string content, escaping where JSON must).
     */
    static Expr parse(String regex, java.util.function.Function<Utf8Ranges, Expr> chars) {
        RegexParser p = new RegexParser(regex, chars);
        if (regex.startsWith("^")) {
            p.pos = 1;
        }
        Expr e = p.alternation(0);
        if (p.pos < regex.length()) {
            throw p.error("unbalanced ')'");
        }
        return e;
    }

    private Expr alternation(int depth) {
        List<Expr> choices = new ArrayList<>();
        choices.add(sequence(depth));
        while (pos < text.length() && text.charAt(pos) == '|') {
            pos++;
            choices.add(sequence(depth));
        }
        return choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices));
    }

    private Expr sequence(int depth) {
        List<Expr> parts = new ArrayList<>();
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c == '|' || c == ')') {
                break;
            }
            if (c == '$') {
                if (pos == text.length() - 1 && depth == 0) {
                    pos++;
                    break;
                }
                throw error("the anchor $ is supported only at the very end (the whole output is matched)");
            }
            if (c == '^') {
                throw error("the anchor ^ is supported only at the very start (the whole output is matched)");
            }
            parts.add(quantified(atom(depth)));
        }
        return parts.size() == 1 ? parts.get(0) : new Expr.Seq(List.copyOf(parts));
    }

    private Expr atom(int depth) {
        char c = text.charAt(pos);
        switch (c) {
            case '(' -> {
                int start = pos;
                pos++;
                if (text.startsWith("?", pos)) {
                    if (text.startsWith("?:", pos)) {
                        pos += 2;
                    } else if (text.startsWith("?=", pos) || text.startsWith("?!", pos)) {
                        pos--;
                        throw error("lookahead (?= / (?! is not supported (a grammar cannot look ahead)");
                    } else if (text.startsWith("?<=", pos) || text.startsWith("?<!", pos)) {
                        pos--;
                        throw error("lookbehind (?<= / (?<! is not supported");
                    } else if (text.startsWith("?<", pos)) {
                        int close = text.indexOf('>', pos);
                        if (close < 0) {
                            throw error("unterminated group name");
                        }
                        pos = close + 1;
                    } else if (text.startsWith("?>", pos)) {
                        pos--;
                        throw error("atomic groups (?> are not supported");
                    } else {
                        pos--;
                        throw error("inline flags and special groups (?...) are not supported");
                    }
                }
                Expr inner = alternation(depth + 1);
                if (pos >= text.length() || text.charAt(pos) != ')') {
                    pos = start;
                    throw error("unclosed '('");
                }
                pos++;
                return inner;
            }
            case '[' -> {
                return charClass();
            }
            case '.' -> {
                pos++;
                return chars.apply(dot());
            }
            case '*', '+', '?', '{' -> {
                if (c == '{' && !isQuantifier()) {
                    throw error("a '{' that starts no repetition {m,n}; escape it as \\{");
                }
                throw error("quantifier '" + c + "' has nothing to repeat");
            }
            case '\\' -> {
                return chars.apply(escape(false));
            }
            default -> {
                int cp = text.codePointAt(pos);
                pos += Character.charCount(cp);
                return chars.apply(new Utf8Ranges().add(cp, cp));
            }
        }
    }

    private static Utf8Ranges dot() {
        return new Utf8Ranges().add('\n', '\n').add('\r', '\r').add(0x85, 0x85).add(0x2028, 0x2029).complement();
    }

    private boolean isQuantifier() {
        int close = text.indexOf('}', pos);
        return close > pos && text.substring(pos + 1, close).matches("\\d+(,\\d*)?");
    }

    private Expr quantified(Expr atom) {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            int min;
            int max;
            if (c == '*') {
                min = 0;
                max = -1;
                pos++;
            } else if (c == '+') {
                min = 1;
                max = -1;
                pos++;
            } else if (c == '?') {
                min = 0;
                max = 1;
                pos++;
            } else if (c == '{' && isQuantifier()) {
                int close = text.indexOf('}', pos);
                String body = text.substring(pos + 1, close);
                int comma = body.indexOf(',');
                try {
                    min = Integer.parseInt(comma < 0 ? body : body.substring(0, comma));
                    max = comma < 0 ? min : comma == body.length() - 1 ? -1 : Integer.parseInt(body.substring(comma + 1));
                } catch (NumberFormatException e) {
                    throw error("repetition count too large");
                }
                if (max >= 0 && max < min) {
                    throw error("repetition {" + body + "} has its maximum below its minimum");
                }
                pos = close + 1;
            } else {
                break;
            }
            if (pos < text.length() && text.charAt(pos) == '?') {
                throw error("lazy quantifiers (" + c + "?) are not supported: only the language matters, write the"
                        + " greedy form");
            }
            if (pos < text.length() && text.charAt(pos) == '+') {
                throw error("possessive quantifiers (" + c + "+) are not supported");
            }
            atom = new Expr.Repeat(atom, min, max);
        }
        return atom;
    }

    private Expr charClass() {
        int start = pos;
        pos++;
        boolean negated = pos < text.length() && text.charAt(pos) == '^';
        if (negated) {
            pos++;
        }
        Utf8Ranges set = new Utf8Ranges();
        while (true) {
            if (pos >= text.length()) {
                pos = start;
                throw error("unterminated character class");
            }
            char c = text.charAt(pos);
            if (c == ']') {
                pos++;
                break;
            }
            if (c == '[') {
                throw error("nested classes and unions inside [...] are not supported; escape '[' as \\[");
            }
            if (text.startsWith("&&", pos)) {
                throw error("class intersections (&&) are not supported");
            }
            Utf8Ranges lo = classAtom();
            int a = lastSingle;
            if (pos + 1 < text.length() && text.charAt(pos) == '-' && text.charAt(pos + 1) != ']') {
                int dash = pos;
                pos++;
                classAtom();
                int b = lastSingle;
                if (a < 0 || b < 0) {
                    pos = dash;
                    throw error("a range in a class needs single characters at both ends");
                }
                if (b < a) {
                    pos = dash;
                    throw error("illegal character range (end below start)");
                }
                set.add(a, b);
            } else {
                set.addAll(lo);
            }
        }
        Utf8Ranges chosen = negated ? set.complement() : set;
        Expr expr = chosen.isEmpty() ? null : chars.apply(chosen);
        if (expr == null) {
            pos = start;
            throw error("character class matches no character");
        }
        return expr;
    }

    /** One class member; sets {@link #lastSingle} to its code point, or -1 when it is a set such as \\d. */
    private Utf8Ranges classAtom() {
        if (text.charAt(pos) == '\\') {
            Utf8Ranges set = escape(true);
            lastSingle = singleEscape;
            return set;
        }
        int cp = text.codePointAt(pos);
        pos += Character.charCount(cp);
        lastSingle = cp;
        return new Utf8Ranges().add(cp, cp);
    }

    /** An escape at {@code pos} (a backslash) as a set of code points. */
    private Utf8Ranges escape(boolean inClass) {
        int start = pos;
        if (pos + 1 >= text.length()) {
            throw error("dangling backslash at the end");
        }
        char e = text.charAt(pos + 1);
        pos += 2;
        Utf8Ranges set = new Utf8Ranges();
        singleEscape = -1;
        switch (e) {
            case 'd' -> set.add('0', '9');
            case 'D' -> set = set.add('0', '9').complement();
            case 'w' -> word(set);
            case 'W' -> set = word(set).complement();
            case 's' -> space(set);
            case 'S' -> set = space(set).complement();
            case 't' -> {
                set.add('\t', '\t');
                singleEscape = '\t';
            }
            case 'n' -> {
                set.add('\n', '\n');
                singleEscape = '\n';
            }
            case 'r' -> {
                set.add('\r', '\r');
                singleEscape = '\r';
            }
            case 'f' -> {
                set.add('\f', '\f');
                singleEscape = '\f';
            }
            case 'e' -> {
                set.add(0x1B, 0x1B);
                singleEscape = 0x1B;
            }
            case 'a' -> {
                set.add(0x07, 0x07);
                singleEscape = 0x07;
            }
            case 'x' -> {
                int cp;
                if (pos < text.length() && text.charAt(pos) == '{') {
                    int close = text.indexOf('}', pos);
                    cp = close < 0 ? -1 : parseHex(text.substring(pos + 1, close));
                    pos = close + 1;
                } else {
                    cp = pos + 2 <= text.length() ? parseHex(text.substring(pos, pos + 2)) : -1;
                    pos += 2;
                }
                if (cp < 0 || cp > Utf8Ranges.MAX) {
                    pos = start;
                    throw error("\\x needs two hex digits or {hex}");
                }
                set.add(cp, cp);
                singleEscape = cp;
            }
            case 'u' -> {
                int cp = pos + 4 <= text.length() ? parseHex(text.substring(pos, pos + 4)) : -1;
                if (cp < 0) {
                    pos = start;
                    throw error("\\u needs four hex digits");
                }
                pos += 4;
                set.add(cp, cp);
                singleEscape = cp;
            }
            case 'b', 'B', 'A', 'z', 'Z', 'G' -> {
                pos = start;
                throw error("the anchor \\" + e + " is not supported (a grammar cannot look around)");
            }
            case 'k' -> {
                pos = start;
                throw error("backreferences (\\k<name>) are not supported (not a context-free language)");
            }
            case 'p', 'P' -> {
                pos = start;
                throw error("Unicode properties \\" + e + "{...} are not supported; write the ranges as a class");
            }
            case 'Q' -> {
                pos = start;
                throw error("quoting \\Q...\\E is not supported; escape each metacharacter");
            }
            default -> {
                if (e >= '0' && e <= '9') {
                    pos = start;
                    throw error("backreferences (\\" + e + ") are not supported (not a context-free language)");
                }
                if (Character.isLetter(e)) {
                    pos = start;
                    throw error("unknown escape \\" + e);
                }
                set.add(e, e);
                singleEscape = e;
            }
        }
        return set;
    }

    private static int parseHex(String s) {
        try {
            return s.isEmpty() ? -1 : Integer.parseInt(s, 16);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static Utf8Ranges word(Utf8Ranges set) {
        return set.add('a', 'z').add('A', 'Z').add('0', '9').add('_', '_');
    }

    private static Utf8Ranges space(Utf8Ranges set) {
        return set.add(' ', ' ').add('\t', '\r'); // \t \n \x0B \f \r
    }

    private ArborException error(String message) {
        return ArborException.invalid(WHAT + ": " + message + " (at index " + pos + " of the pattern)");
    }
}
