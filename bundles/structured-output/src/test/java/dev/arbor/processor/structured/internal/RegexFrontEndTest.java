package dev.arbor.processor.structured.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The regular-expression front end agrees with {@link Pattern#matches} on random strings (fixed seeds): strings
 * over the pattern's own characters plus a few others, and random sentences of the compiled grammar.
 */
class RegexFrontEndTest {

    @ParameterizedTest
    @ValueSource(strings = {
        "abc", "a|b|cd", "(ab)*c", "a+b?c{2,3}", "[a-c]{1,4}x?", "[^abc]+", "\\d{3}-\\d{4}", "\\w+@\\w+\\.com",
        "(?:foo|bar)+baz", "x{3}", "x{2,}", "\\s*\\S+", "[\\d\\s]+", "[^\\w]?", ".+", "a.c", "(a|b)*abb",
        "[-+]?\\d+(\\.\\d+)?", "[é-ü]+", "caf[eé]", "日本(語|人)?", "\\x41\\u00e9[\\x00-\\x7f]", "(a|ab)(c|bcd)(d*)",
        "^start.*end$", "[a-z&&]?", "(?<word>\\W\\w)+", "[\\u4e00-\\u9fff]{1,2}", "(\\p)?",
        "(a?)*b", "(a|)*", "(\\s*\\w*)*x", "((a*)*|b)+c", "(a?b?)*"})
    void agreesWithJavaRegex(String regex) {
        if (regex.contains("&&") || regex.contains("\\p")) {
            assertThatThrownBy(() -> RegexParser.compile(regex)).isInstanceOf(ArborException.class);
            return;
        }
        Recognizer recognizer = new Recognizer(RegexParser.compile(regex));
        Pattern pattern = Pattern.compile(regex);
        Random random = new Random(regex.hashCode());
        String alphabet = alphabet(regex);
        for (int i = 0; i < 3000; i++) {
            StringBuilder sb = new StringBuilder();
            int len = random.nextInt(10);
            for (int k = 0; k < len; k++) {
                sb.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0,
                        random.nextInt(alphabet.codePointCount(0, alphabet.length())))));
            }
            check(recognizer, pattern, sb.toString());
        }
        for (int i = 0; i < 500; i++) {
            byte[] sentence = Walks.sentence(recognizer, random, 12, 0.2);
            String s = new String(sentence, StandardCharsets.UTF_8);
            assertThat(s.getBytes(StandardCharsets.UTF_8)).as("walk output is valid UTF-8").isEqualTo(sentence);
            assertThat(pattern.matcher(s).matches()).as("'%s' from the grammar of /%s/", s, regex).isTrue();
        }
    }

    private static void check(Recognizer recognizer, Pattern pattern, String s) {
        boolean expected = pattern.matcher(s).matches();
        assertThat(recognizer.matches(s.getBytes(StandardCharsets.UTF_8)))
                .as("'%s' against /%s/", s, pattern.pattern()).isEqualTo(expected);
    }

    private static String alphabet(String regex) {
        StringBuilder sb = new StringBuilder("ab1 _-.\n\té語@");
        regex.codePoints().filter(c -> c != '\\').forEach(sb::appendCodePoint);
        return sb.toString();
    }

    @ParameterizedTest
    @ValueSource(strings = {"(?=a)b", "(?!a)b", "(?<=a)b", "(?<!a)b", "(a)\\1", "a*?", "a+?", "a*+", "a{2}+",
        "\\bword", "(?i)abc", "a^b", "a$b", "[abc", "(ab", "ab)", "*a", "a{3,1}", "(?>a)", "\\k<x>"})
    void refusesUnsupportedConstructsByName(String regex) {
        assertThatThrownBy(() -> RegexParser.compile(regex)).isInstanceOf(ArborException.class)
                .hasMessageStartingWith("regex: ");
    }

    @org.junit.jupiter.api.Test
    void refusalMessagesNameTheConstruct() {
        assertThatThrownBy(() -> RegexParser.compile("(?=x)y")).hasMessageContaining("lookahead");
        assertThatThrownBy(() -> RegexParser.compile("(?<=x)y")).hasMessageContaining("lookbehind");
        assertThatThrownBy(() -> RegexParser.compile("(a)\\1")).hasMessageContaining("backreference");
        assertThatThrownBy(() -> RegexParser.compile("a*?")).hasMessageContaining("lazy");
        assertThatThrownBy(() -> RegexParser.compile("a++")).hasMessageContaining("possessive");
    }
}
