package dev.arbor.sampling.internal;

import static dev.arbor.sampling.internal.Rows.options;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.sampling.SamplingMath;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TraitsTest {

    @Test
    void declaredTraits() {
        for (String part : new String[] {"temperature", "top-k", "top-p", "min-p"}) {
            assertThat(Rows.PROCESSORS.get(part).traits()).as(part).contains(Trait.ARGMAX_INVARIANT)
                    .doesNotContain(Trait.HISTORY_DEPENDENT);
        }
        for (String part : new String[] {"repetition-penalty", "penalties"}) {
            assertThat(Rows.PROCESSORS.get(part).traits()).as(part).contains(Trait.HISTORY_DEPENDENT)
                    .doesNotContain(Trait.ARGMAX_INVARIANT);
        }
        for (String part : new String[] {"typical", "logit-bias"}) {
            assertThat(Rows.PROCESSORS.get(part).traits()).as(part)
                    .doesNotContain(Trait.ARGMAX_INVARIANT, Trait.HISTORY_DEPENDENT);
        }
        Rows.PROCESSORS.values().forEach(f -> assertThat(f.traits()).doesNotContain(Trait.USES_RANDOMNESS));
    }

    /** Property check of ARGMAX_INVARIANT on random rows with random -inf holes; typical fails it (see below). */
    @Test
    void argmaxInvariantPartsKeepTheArgmax() {
        SplittableRandom r = new SplittableRandom(5);
        Map<String, Options> settings = Map.of(
                "temperature", options("temperature", 0.3),
                "top-k", options("top_k", 2),
                "top-p", options("top_p", 0.05),
                "min-p", options("min_p", 0.9));
        for (int trial = 0; trial < 2000; trial++) {
            float[] row = new float[2 + r.nextInt(40)];
            for (int i = 0; i < row.length; i++) {
                row[i] = r.nextInt(8) == 0 ? Float.NEGATIVE_INFINITY : (float) (r.nextGaussian() * 3);
            }
            row[r.nextInt(row.length)] = 1f; // at least one live token
            int argmax = SamplingMath.argmax(row);
            settings.forEach((part, opts) -> {
                LogitsProcessorFactory f = Rows.PROCESSORS.get(part);
                float[] out = row.clone();
                f.create(opts).process(out, Rows.context(out.length, new int[] {0}, new int[0]));
                assertThat(SamplingMath.argmax(out)).as("%s on %s", part, Arrays.toString(row))
                        .isEqualTo(argmax);
            });
        }
    }

    @Test
    void typicalIsNotArgmaxInvariant() {
        float[] row = {Rows.ln(0.5), Rows.ln(0.25), Rows.ln(0.125), Rows.ln(0.125)};
        LogitsProcessor typical = new TypicalFactory().create(options("typical_p", 0.2));
        typical.process(row, Rows.context(4, new int[] {0}, new int[0]));
        assertThat(SamplingMath.argmax(row)).isEqualTo(1);
    }

    @Test
    void noOpOptionsGiveTheIdentity() {
        Map<String, Options> noOps = Map.of(
                "temperature", Options.empty(),
                "top-k", options("top_k", 0),
                "top-p", options("top_p", 1.0),
                "min-p", options("min_p", 0),
                "typical", options("typical_p", "1"),
                "repetition-penalty", options("repetition_penalty", 1),
                "penalties", options("presence_penalty", 0.0, "frequency_penalty", 0),
                "logit-bias", Options.empty());
        assertThat(noOps.keySet()).containsExactlyInAnyOrderElementsOf(Rows.PROCESSORS.keySet());
        noOps.forEach((part, opts) -> assertThat(Rows.PROCESSORS.get(part).create(opts)).as(part)
                .isInstanceOf(IdentityProcessor.class));
        assertThat(new TemperatureFactory().create(options("temperature", 0))).isInstanceOf(IdentityProcessor.class);
        assertThat(new TemperatureFactory().create(options("temperature", 0.7)))
                .isInstanceOf(TemperatureProcessor.class);
    }
}
