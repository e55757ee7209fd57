package dev.arbor.processor.structured.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Brute force over the whole vocabulary: at random reachable states (byte prefixes of random sentences, also inside
 * UTF-8 sequences), a token is allowed iff appending its bytes leaves a viable prefix, EOS iff the state accepts,
 * tokens without bytes never; and each allowed token's distance is that of the state after it.
 */
class MaskExactnessTest {

    static Stream<Arguments> cases() {
        List<String[]> constraints = List.of(
                new String[] {Constraints.JSON_OBJECT, ""},
                new String[] {Constraints.REGEX, "(Once|Tom) [a-z ]{1,12}(\\.|!) [é語]?\\d{2,4}"},
                new String[] {Constraints.GRAMMAR, "root ::= expr\nexpr ::= term ([+*] term)*\n"
                        + "term ::= [0-9]+ | \"(\" expr \")\" | \" \" term"},
                new String[] {Constraints.JSON_SCHEMA, "{\"type\": \"object\", \"properties\": {\"name\": {\"type\":"
                        + " \"string\", \"maxLength\": 8}, \"n\": {\"type\": \"integer\", \"minimum\": 3, \"maximum\":"
                        + " 420}, \"xs\": {\"type\": \"array\", \"items\": {\"enum\": [\"ab\", \"c\", 7]}}},"
                        + " \"required\": [\"name\", \"xs\"]}"});
        return Stream.of("tok512", "gpt2").flatMap(tok -> constraints.stream()
                .map(c -> Arguments.of(tok, c[0], c[1])));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void maskIsExactAtRandomReachableStates(String tokenizerName, String kind, String text) {
        Tokenizer tokenizer = tokenizerName.equals("tok512") ? Fixtures.tok512() : Fixtures.gpt2();
        Constraints constraints = new Constraints();
        Constraint c = constraints.constraint(new Constraints.Source(kind, text), tokenizer);
        Vocabulary v = c.vocabulary;
        Random random = new Random(kind.hashCode() * 31L + tokenizerName.hashCode());
        int states = tokenizerName.equals("tok512") ? 60 : 8;
        for (int k = 0; k < states; k++) {
            byte[] sentence = Walks.sentence(c.recognizer, random, 60, 0.1);
            byte[] prefix = Arrays.copyOf(sentence, random.nextInt(sentence.length + 1));
            State state = c.recognizer.advance(c.initial(), prefix);
            assertThat(state.isDead()).isFalse();
            Mask mask = c.computeMask(state);
            int rank = 0;
            int allowedCount = 0;
            for (int id = 0; id < v.size; id++) {
                boolean expected;
                State after = null;
                if (id == v.eos) {
                    expected = state.accepts;
                } else if (v.bytes[id].length == 0) {
                    expected = false;
                } else {
                    after = c.recognizer.advance(state, v.bytes[id]);
                    expected = !after.isDead();
                }
                assertThat(mask.allows(id)).as("token %d %s after %s", id, Arrays.toString(v.bytes[id]),
                        new String(prefix, java.nio.charset.StandardCharsets.UTF_8)).isEqualTo(expected);
                if (expected) {
                    int dist = after == null ? 0 : after.dist;
                    assertThat((int) mask.distance()[rank]).as("distance after token %d", id)
                            .isEqualTo(Math.min(dist, Character.MAX_VALUE));
                    rank++;
                    allowedCount++;
                }
            }
            assertThat(mask.count()).isEqualTo(allowedCount);
            assertThat(c.mask(state).allowed()).isEqualTo(mask.allowed()); // the cached mask is the same
        }
    }
}
