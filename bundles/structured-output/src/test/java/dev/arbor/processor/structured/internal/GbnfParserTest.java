package dev.arbor.processor.structured.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Each GBNF construct, against strings it must and must not accept, and errors that name line, column and rule. */
class GbnfParserTest {

    private static Recognizer grammar(String text) {
        return new Recognizer(GbnfParser.compile(text));
    }

    private static boolean accepts(Recognizer r, String s) {
        return r.matches(s.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void literalsAndEscapes() {
        Recognizer r = grammar("root ::= \"a\\\"b\\\\c\\n\\t\\x41\\u00e9\\U0001F600\"");
        assertThat(accepts(r, "a\"b\\c\n\tAé\uD83D\uDE00")).isTrue();
        assertThat(accepts(r, "a\"b\\c\n\tAé")).isFalse();
        assertThat(accepts(grammar("root ::= \"日本\""), "日本")).isTrue();
    }

    @Test
    void classesNegationAndAnyCharacter() {
        Recognizer r = grammar("root ::= [a-cx] [^0-9\\n] . [\\u00e0-\\u00ff]");
        assertThat(accepts(r, "aZ語é")).isTrue();
        assertThat(accepts(r, "xé\uD83D\uDE00ÿ")).isTrue();
        assertThat(accepts(r, "d-zé")).isFalse();
        assertThat(accepts(r, "a5zé")).isFalse();
        assertThat(accepts(r, "a\nzé")).isFalse();
        assertThat(accepts(r, "aZzA")).isFalse();
        assertThat(accepts(grammar("root ::= [\\]\\-^]+"), "]-^")).isTrue();
    }

    @Test
    void sequencesAlternativesGroupsAndQuantifiers() {
        Recognizer r = grammar("""
                # a comment line
                root ::= greeting ("," " "? name)* "!"?   # trailing comment
                greeting ::= "hi" | "hello"
                name ::=
                    [A-Z] [a-z]{1,3}
                """);
        assertThat(accepts(r, "hi")).isTrue();
        assertThat(accepts(r, "hello, Bob,Al!")).isTrue();
        assertThat(accepts(r, "hello, Bobby")).isFalse();
        assertThat(accepts(r, "hey")).isFalse();
        Recognizer counts = grammar("root ::= \"a\"{2} \"b\"{1,} \"c\"{0,2} \"d\"+ \"e\"?");
        assertThat(accepts(counts, "aabdd")).isTrue();
        assertThat(accepts(counts, "aabbbccde")).isTrue();
        assertThat(accepts(counts, "abd")).isFalse();
        assertThat(accepts(counts, "aabcccd")).isFalse();
        assertThat(accepts(counts, "aab")).isFalse();
    }

    @Test
    void recursionThroughRules() {
        Recognizer r = grammar("""
                root ::= expr
                expr ::= term (("+" | "-") term)*
                term ::= [0-9]+ | "(" expr ")"
                """);
        assertThat(accepts(r, "1+(2-(3+44))")).isTrue();
        assertThat(accepts(r, "1+(2-(3+44)")).isFalse();
        assertThat(accepts(r, "()")).isFalse();
    }

    /** llama.cpp's own grammars/json.gbnf (empty alternative, escapes in classes, multi-line rules). */
    @Test
    void llamaCppJsonGrammar() {
        Recognizer r = grammar("""
                root   ::= object
                value  ::= object | array | string | number | ("true" | "false" | "null") ws

                object ::=
                  "{" ws (
                            string ":" ws value
                    ("," ws string ":" ws value)*
                  )? "}" ws

                array  ::=
                  "[" ws (
                            value
                    ("," ws value)*
                  )? "]" ws

                string ::=
                  "\\"" (
                    [^"\\\\\\x7F\\x00-\\x1F] |
                    "\\\\" (["\\\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
                  )* "\\"" ws

                number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

                # Optional space: by convention, applied in this grammar after literal chars when allowed
                ws ::= | " " | "\\n" [ \\t]{0,20}
                """);
        assertThat(accepts(r, "{\"a\": [1, -2.5e3, true, null, \"x\\\"\\u00e9\"],\n  \"b\": {}}")).isTrue();
        assertThat(accepts(r, "{\"a\": [1,]}")).isFalse();
        assertThat(accepts(r, "{\"a\": \"\u007f\"}")).isFalse();
    }

    @Test
    void errorsNameLineColumnAndRule() {
        assertThatThrownBy(() -> GbnfParser.compile("root ::= \"a\"\nother ::= \"b\" @"))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("line 2, column 15").hasMessageContaining("rule 'other'");
        assertThatThrownBy(() -> GbnfParser.compile("root ::= \"abc"))
                .hasMessageContaining("line 1, column 10").hasMessageContaining("unterminated string");
        assertThatThrownBy(() -> GbnfParser.compile("root ::= [a-"))
                .hasMessageContaining("unterminated character class");
        assertThatThrownBy(() -> GbnfParser.compile("root ::= (\"a\""))
                .hasMessageContaining("unclosed '('");
        assertThatThrownBy(() -> GbnfParser.compile("root ::= \"a\"{3,1}"))
                .hasMessageContaining("0 <= m <= n");
        assertThatThrownBy(() -> GbnfParser.compile("root ::= \"\\q\""))
                .hasMessageContaining("unknown escape \\q");
        assertThatThrownBy(() -> GbnfParser.compile("root = \"a\"")).hasMessageContaining("expected ::=");
        assertThatThrownBy(() -> GbnfParser.compile("root ::= \"a\"\nroot ::= \"b\""))
                .hasMessageContaining("line 2, column 1").hasMessageContaining("defined twice");
        assertThatThrownBy(() -> GbnfParser.compile("")).hasMessageContaining("empty");
    }

    @Test
    void undefinedRulesAndMissingRootAreRefusedByName() {
        assertThatThrownBy(() -> GbnfParser.compile("root ::= \"a\" value"))
                .hasMessageContaining("undefined rule 'value'").hasMessageContaining("line 1, column 14")
                .hasMessageContaining("rule 'root'");
        assertThatThrownBy(() -> GbnfParser.compile("start ::= \"a\"")).hasMessageContaining("no rule 'root'");
    }

    @Test
    void leftRecursionIsRefusedByName() {
        assertThatThrownBy(() -> GbnfParser.compile("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\""))
                .hasMessageContaining("rule 'expr' is left-recursive");
        assertThatThrownBy(() -> GbnfParser.compile("root ::= a\na ::= b \"x\"\nb ::= \"y\"? a | \"z\""))
                .hasMessageContaining("left-recursive").hasMessageContaining("a -> b -> a");
        assertThatThrownBy(() -> GbnfParser.compile("root ::= a\na ::= \"x\" a"))
                .hasMessageContaining("rule 'a' never ends");
        assertThatThrownBy(() -> GbnfParser.compile("root ::= a \"x\"\na ::= b | \"y\" \nb ::= a \"z\""))
                .hasMessageContaining("left-recursive");
    }

    /** Repetitions of what can be empty, and rules that are each other's only element, are not left recursion. */
    @Test
    void tailCyclesAreAccepted() {
        Recognizer r = grammar("root ::= (\"a\"? \"b\"?)* \"c\" item*\nitem ::= \"x\"*  | \"y\"\n");
        assertThat(accepts(r, "c")).isTrue();
        assertThat(accepts(r, "abbac")).isTrue();
        assertThat(accepts(r, "bbcxxyx")).isTrue();
        assertThat(accepts(r, "abd")).isFalse();
        Recognizer units = grammar("root ::= a\na ::= b | \"x\"\nb ::= a | \"y\"");
        assertThat(accepts(units, "x")).isTrue();
        assertThat(accepts(units, "y")).isTrue();
        assertThat(accepts(units, "xy")).isFalse();
    }

    @Test
    void hugeRepetitionsAreRefused() {
        assertThatThrownBy(() -> GbnfParser.compile("root ::= (\"ab\" [c-d]){3000000}"))
                .hasMessageContaining("too large");
    }
}
