package dev.arbor.sampling.internal;

import static dev.arbor.sampling.internal.Rows.context;
import static dev.arbor.sampling.internal.Rows.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.sampling.LogitsProcessor;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Bad options fail in create(), as INVALID_INPUT, with a message naming the option, the value and the range. */
class ValidationTest {

    static Stream<Arguments> badOptions() {
        return Stream.of(
                arguments("temperature", options("temperature", -0.5),
                        "option 'temperature' must be between 0.0 and 100.0, got -0.5"),
                arguments("temperature", options("temperature", "hot"), "option 'temperature' must be a number"),
                arguments("temperature", options("temperature", Double.NaN), "option 'temperature' must be between"),
                arguments("top-p", options("top_p", 0), "option 'top_p' must be greater than 0 and at most 1.0, got 0"),
                arguments("top-p", options("top_p", 1.5), "option 'top_p' must be between 0.0 and 1.0, got 1.5"),
                arguments("top-p", options("top_p", 0.9, "min_tokens_to_keep", 0),
                        "option 'min_tokens_to_keep' must be between 1 and"),
                arguments("top-k", options("top_k", -1), "option 'top_k' must be between 0 and 2147483647, got -1"),
                arguments("top-k", options("top_k", 2.5), "option 'top_k' must be an integer, got '2.5'"),
                arguments("min-p", options("min_p", 1.5), "option 'min_p' must be between 0.0 and 1.0, got 1.5"),
                arguments("min-p", options("min_p", -0.1), "option 'min_p' must be between 0.0 and 1.0, got -0.1"),
                arguments("typical", options("typical_p", 0),
                        "option 'typical_p' must be greater than 0 and at most 1.0, got 0"),
                arguments("repetition-penalty", options("repetition_penalty", 0),
                        "option 'repetition_penalty' must be greater than 0 and at most 100.0, got 0"),
                arguments("repetition-penalty", options("repetition_penalty", -1.2),
                        "option 'repetition_penalty' must be between 0.0 and 100.0, got -1.2"),
                arguments("penalties", options("presence_penalty", 2.5),
                        "option 'presence_penalty' must be between -2.0 and 2.0, got 2.5"),
                arguments("penalties", options("frequency_penalty", -3),
                        "option 'frequency_penalty' must be between -2.0 and 2.0, got -3"),
                arguments("logit-bias", options("logit_bias", "50256:5"), "option 'logit_bias' must be an object"),
                arguments("logit-bias", options("logit_bias", Map.of("abc", 1)),
                        "option 'logit_bias' keys must be token ids (integers), got 'abc'"),
                arguments("logit-bias", options("logit_bias", Map.of("-1", 1)),
                        "option 'logit_bias' keys must be token ids >= 0, got -1"),
                arguments("logit-bias", options("logit_bias", Map.of("3", 101)),
                        "option 'logit_bias[3]' must be between -100.0 and 100.0, got 101"),
                arguments("logit-bias", options("logit_bias", Map.of("3", "lots")),
                        "option 'logit_bias[3]' must be a number, got 'lots'"),
                arguments("logit-bias", options("logit_bias", Map.of("3", 1, 3, 2)),
                        "option 'logit_bias' lists token 3 more than once"));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("badOptions")
    void refusesBadOptionsEagerly(String part, Options options, String message) {
        assertThatThrownBy(() -> Rows.PROCESSORS.get(part).create(options))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining(message);
    }

    @Test
    void sampleSelectorValidatesTemperatureToo() {
        assertThatThrownBy(() -> new SampleSelectorFactory().create(options("temperature", -1)))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("option 'temperature' must be between 0.0 and 100.0, got -1");
    }

    @Test
    void logitBiasRefusesTokensOutsideTheVocabularyWhenTheRowArrives() {
        LogitsProcessor p = new LogitBiasFactory().create(options("logit_bias", Map.of("1", 2, "7", 1)));
        float[] logits = {0, 0, 0};
        assertThatThrownBy(() -> p.process(logits, context(3, new int[] {0}, new int[0])))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining("option 'logit_bias' names token 7")
                .hasMessageContaining("vocabulary of 3 tokens (ids 0..2)");
        assertThat(logits).containsExactly(0, 0, 0); // nothing half-applied
    }

    @Test
    void logitBiasUsesTheSmallerOfRowAndTokenizerVocabulary() {
        // A padded logits row (4) wider than the tokenizer's vocabulary (3): id 3 is no token.
        LogitsProcessor p = new LogitBiasFactory().create(options("logit_bias", Map.of(3, 1)));
        assertThatThrownBy(() -> p.process(new float[4], context(3, new int[] {0}, new int[0])))
                .hasMessageContaining("vocabulary of 3 tokens");
    }
}
