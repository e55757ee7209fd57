package dev.arbor.sampling.internal;

import static dev.arbor.sampling.internal.Rows.NEG_INF;
import static dev.arbor.sampling.internal.Rows.assertLogits;
import static dev.arbor.sampling.internal.Rows.context;
import static dev.arbor.sampling.internal.Rows.ids;
import static dev.arbor.sampling.internal.Rows.ln;
import static dev.arbor.sampling.internal.Rows.options;
import static dev.arbor.sampling.internal.Rows.row;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import dev.arbor.api.Options;
import dev.arbor.api.sampling.LogitsProcessor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One table for every processor: part, options, input row, history (prompt, generated), expected row.
 * Expected rows are written from each processor's formula by hand; rows built from ln(p) make the
 * probabilities the round numbers used in the comments.
 */
class LogitsProcessorsTest {
    private static final int[] NONE = {};

    // p = (0.125, 0.5, 0.25, 0.125): descending order id1 .5, id2 .25, id0 .125, id3 .125 (tie: lower id first);
    // exclusive cumulative sums by rank 0, .5, .75, .875.
    private static final float A = ln(0.125);
    private static final float B = ln(0.5);
    private static final float C = ln(0.25);
    private static final float D = ln(0.125);
    private static final float[] TOP_P_ROW = {A, B, C, D};

    // p = (0.5, 0.25, 0.125, 0.125): H = 1.75 ln 2; s_i = |-log p_i - H| = (0.75, 0.25, 1.25, 1.25) ln 2;
    // ascending s: id1 (p .25), id0 (.5), id2 (.125), id3 (.125); cumulative .25, .75, .875, 1.
    private static final float P0 = ln(0.5);
    private static final float P1 = ln(0.25);
    private static final float P2 = ln(0.125);
    private static final float P3 = ln(0.125);
    private static final float[] TYPICAL_ROW = {P0, P1, P2, P3};

    static Stream<Arguments> cases() {
        return Stream.of(
                // temperature: l / T
                arguments("temperature", options("temperature", 2), row(2, -4, 0, NEG_INF), NONE, NONE,
                        row(1, -2, 0, NEG_INF)),
                arguments("temperature", options("temperature", 0.5), row(2, -4, 0, NEG_INF), NONE, NONE,
                        row(4, -8, 0, NEG_INF)),
                arguments("temperature", options("temperature", "3"), row(3, -1.5f, 0.3f), NONE, NONE,
                        row(1, -0.5f, 0.1f)),
                arguments("temperature", options("temperature", 1), row(2, -4, 0), NONE, NONE, row(2, -4, 0)),
                arguments("temperature", options("temperature", 0), row(2, -4, 0), NONE, NONE, row(2, -4, 0)),
                arguments("temperature", Options.empty(), row(2, -4, 0), NONE, NONE, row(2, -4, 0)),

                // top-k: keep l >= k-th largest, ties kept, -inf entries counted as values
                arguments("top-k", options("top_k", 1), row(1, 3, 3, 2, NEG_INF), NONE, NONE,
                        row(NEG_INF, 3, 3, NEG_INF, NEG_INF)),
                arguments("top-k", options("top_k", 2), row(1, 3, 3, 2, NEG_INF), NONE, NONE,
                        row(NEG_INF, 3, 3, NEG_INF, NEG_INF)),
                arguments("top-k", options("top_k", 3), row(1, 3, 3, 2, NEG_INF), NONE, NONE,
                        row(NEG_INF, 3, 3, 2, NEG_INF)),
                arguments("top-k", options("top_k", 5), row(1, 3, 3, 2, NEG_INF), NONE, NONE,
                        row(1, 3, 3, 2, NEG_INF)),
                arguments("top-k", options("top_k", 10), row(1, 3, 3, 2), NONE, NONE, row(1, 3, 3, 2)),
                arguments("top-k", options("top_k", 0), row(1, 3, 3, 2), NONE, NONE, row(1, 3, 3, 2)),
                arguments("top-k", options("top_k", 1, "min_tokens_to_keep", 4), row(1, 3, 3, 2, 0), NONE, NONE,
                        row(1, 3, 3, 2, NEG_INF)),
                arguments("top-k", options("top_k", 1), row(0.5f, 0.5f, 0.5f), NONE, NONE, row(0.5f, 0.5f, 0.5f)),

                // top-p: remove rank r iff exclusive cumulative > p (first always kept)
                arguments("top-p", options("top_p", 0.6), TOP_P_ROW, NONE, NONE, row(NEG_INF, B, C, NEG_INF)),
                arguments("top-p", options("top_p", 0.8), TOP_P_ROW, NONE, NONE, row(A, B, C, NEG_INF)),
                arguments("top-p", options("top_p", 0.4), TOP_P_ROW, NONE, NONE,
                        row(NEG_INF, B, NEG_INF, NEG_INF)),
                arguments("top-p", options("top_p", 0.1, "min_tokens_to_keep", 3), TOP_P_ROW, NONE, NONE,
                        row(A, B, C, NEG_INF)),
                arguments("top-p", options("top_p", 1), TOP_P_ROW, NONE, NONE, TOP_P_ROW),
                // equal logits: p = 1/4 exactly, exclusive sums 0, .25, .5, .75; .5 is not > .5 so id 2 stays
                arguments("top-p", options("top_p", 0.5), row(0, 0, 0, 0), NONE, NONE, row(0, 0, 0, NEG_INF)),
                arguments("top-p", options("top_p", 0.3), row(ln(0.5), NEG_INF, ln(0.5)), NONE, NONE,
                        row(ln(0.5), NEG_INF, NEG_INF)),

                // min-p: keep exp(l - max) >= min_p
                arguments("min-p", options("min_p", 0.2), row(0, -1, -2, NEG_INF), NONE, NONE,
                        row(0, -1, NEG_INF, NEG_INF)), // e^-1 = .368 >= .2 > e^-2 = .135
                arguments("min-p", options("min_p", 0.1), row(0, -1, -2, NEG_INF), NONE, NONE,
                        row(0, -1, -2, NEG_INF)),
                arguments("min-p", options("min_p", 0.5), row(0, -1, -2, NEG_INF), NONE, NONE,
                        row(0, NEG_INF, NEG_INF, NEG_INF)),
                arguments("min-p", options("min_p", 0.5, "min_tokens_to_keep", 2), row(-2, 0, -1, NEG_INF), NONE,
                        NONE, row(NEG_INF, 0, -1, NEG_INF)),
                arguments("min-p", options("min_p", 1), row(0, 0, -1), NONE, NONE, row(0, 0, NEG_INF)),
                arguments("min-p", options("min_p", 0.3), row(ln(0.5), ln(0.25), ln(0.125), ln(0.125)), NONE,
                        NONE, row(ln(0.5), ln(0.25), NEG_INF, NEG_INF)), // threshold .3 * .5 = .15
                arguments("min-p", options("min_p", 0), row(0, -1, -20), NONE, NONE, row(0, -1, -20)),

                // typical: last_ind = #(cumulative < mass); keep s <= s at last_ind
                arguments("typical", options("typical_p", 0.5), TYPICAL_ROW, NONE, NONE,
                        row(P0, P1, NEG_INF, NEG_INF)),
                arguments("typical", options("typical_p", 0.7), TYPICAL_ROW, NONE, NONE,
                        row(P0, P1, NEG_INF, NEG_INF)),
                arguments("typical", options("typical_p", 0.8), TYPICAL_ROW, NONE, NONE, TYPICAL_ROW),
                // the most probable token (id 0) is not the most typical one: only id 1 survives
                arguments("typical", options("typical_p", 0.2), TYPICAL_ROW, NONE, NONE,
                        row(NEG_INF, P1, NEG_INF, NEG_INF)),
                arguments("typical", options("typical_p", 0.2, "min_tokens_to_keep", 3), TYPICAL_ROW, NONE, NONE,
                        row(P0, P1, P2, NEG_INF)),
                arguments("typical", options("typical_p", 0.5), row(P0, NEG_INF, P1, P2, P3), NONE, NONE,
                        row(P0, NEG_INF, P1, NEG_INF, NEG_INF)),
                arguments("typical", options("typical_p", 0.5), row(1, 1, 1), NONE, NONE, row(1, 1, 1)),
                arguments("typical", options("typical_p", 1), TYPICAL_ROW, NONE, NONE, TYPICAL_ROW),

                // repetition penalty over prompt + generated, once per distinct token
                arguments("repetition-penalty", options("repetition_penalty", 2), row(2, -2, 0, 1, 3),
                        ids(0, 1, 2, 0), ids(1), row(1, -4, 0, 1, 3)),
                arguments("repetition-penalty", options("repetition_penalty", 0.5), row(2, -2, 0, 1, 3),
                        ids(0, 1, 2, 0), ids(1), row(4, -1, 0, 1, 3)),
                arguments("repetition-penalty", options("repetition_penalty", 2), row(NEG_INF, 1, 4),
                        ids(0, 9), ids(2, 2, 2), row(NEG_INF, 1, 2)), // id 9 is outside the row: skipped
                arguments("repetition-penalty", options("repetition_penalty", 1), row(2, -2), ids(0, 1), NONE,
                        row(2, -2)),

                // OpenAI: l -= c * frequency + (c > 0) * presence, c counted over generated tokens only
                arguments("penalties", options("frequency_penalty", 0.5, "presence_penalty", 1), row(1, 1, 1, 1),
                        ids(3, 3), ids(0, 0, 1), row(-1, -0.5f, 1, 1)),
                arguments("penalties", options("presence_penalty", 0.5), row(1, 1, 1, 1), ids(3, 3), ids(0, 0, 1),
                        row(0.5f, 0.5f, 1, 1)),
                arguments("penalties", options("frequency_penalty", -1), row(1, 1, 1, 1), ids(3, 3),
                        ids(0, 0, 1), row(3, 2, 1, 1)),
                arguments("penalties", options("frequency_penalty", "2", "presence_penalty", "-2"),
                        row(0, NEG_INF), NONE, ids(1, 0, 0, 0), row(-4, NEG_INF)),
                arguments("penalties", options("frequency_penalty", 0, "presence_penalty", 0), row(1, 2), NONE,
                        ids(0, 1), row(1, 2)),

                // logit bias: string and integer keys, values as numbers or numeric strings
                arguments("logit-bias", options("logit_bias", biases("1", 5, 2, -100)), row(0, 0, 0), NONE, NONE,
                        row(0, 5, -100)),
                arguments("logit-bias", options("logit_bias", biases("0", "2.5", 2L, 100)), row(1, NEG_INF, -1),
                        NONE, NONE, row(3.5f, NEG_INF, 99)),
                arguments("logit-bias", options("logit_bias", Map.of()), row(1, 2), NONE, NONE, row(1, 2)));
    }

    private static Map<Object, Object> biases(Object... keyValues) {
        Map<Object, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            m.put(keyValues[i], keyValues[i + 1]);
        }
        return m;
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void processesTheRowAsTheFormulaSays(String part, Options options, float[] input, int[] prompt,
            int[] generated, float[] expected) {
        LogitsProcessor processor = Rows.PROCESSORS.get(part).create(options);
        float[] logits = input.clone();
        processor.process(logits, context(input.length, prompt, generated));
        assertLogits(logits, expected);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void processorsHaveAtLeastTheirFactorysTraits(String part, Options options, float[] input, int[] prompt,
            int[] generated, float[] expected) {
        var factory = Rows.PROCESSORS.get(part);
        assertThat(factory.create(options).traits()).containsAll(factory.traits());
    }
}
