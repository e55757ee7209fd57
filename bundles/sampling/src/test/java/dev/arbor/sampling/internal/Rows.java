package dev.arbor.sampling.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.Options;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.sampling.SamplingContext;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** Test helpers: rows, contexts and the bundle's parts by their {@code arbor.part} name. */
final class Rows {
    static final float NEG_INF = Float.NEGATIVE_INFINITY;

    /** The processor parts as SCR would register them (name = the component's arbor.part). */
    static final Map<String, LogitsProcessorFactory> PROCESSORS = new LinkedHashMap<>();

    static {
        PROCESSORS.put("temperature", new TemperatureFactory());
        PROCESSORS.put("top-k", new TopKFactory());
        PROCESSORS.put("top-p", new TopPFactory());
        PROCESSORS.put("min-p", new MinPFactory());
        PROCESSORS.put("typical", new TypicalFactory());
        PROCESSORS.put("repetition-penalty", new RepetitionPenaltyFactory());
        PROCESSORS.put("penalties", new PenaltiesFactory());
        PROCESSORS.put("logit-bias", new LogitBiasFactory());
    }

    private Rows() {
    }

    static float ln(double p) {
        return (float) Math.log(p);
    }

    static float[] row(float... values) {
        return values;
    }

    static int[] ids(int... ids) {
        return ids;
    }

    /** Options from alternating key, value pairs. */
    static Options options(Object... keyValues) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            m.put((String) keyValues[i], keyValues[i + 1]);
        }
        return Options.of(m);
    }

    /** A context whose history is {@code prompt} followed by {@code generated}. */
    static SamplingContext context(int vocab, int[] prompt, int[] generated) {
        SamplingContext c = new SamplingContext(prompt, vocab, new SplittableRandom(1));
        for (int t : generated) {
            c.append(t);
        }
        return c;
    }

    /** -inf must match exactly (a removed token); finite values to 1e-6 relative. */
    static void assertLogits(float[] actual, float[] expected) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.length; i++) {
            if (expected[i] == NEG_INF) {
                assertThat(actual[i]).as("logit of token %d", i).isEqualTo(NEG_INF);
            } else {
                assertThat((double) actual[i]).as("logit of token %d", i)
                        .isCloseTo(expected[i], within(1e-6 * Math.max(1, Math.abs(expected[i]))));
            }
        }
    }
}
