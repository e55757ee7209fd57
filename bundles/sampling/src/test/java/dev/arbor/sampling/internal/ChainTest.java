package dev.arbor.sampling.internal;

import static dev.arbor.sampling.internal.Rows.NEG_INF;
import static dev.arbor.sampling.internal.Rows.assertLogits;
import static dev.arbor.sampling.internal.Rows.options;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The chain as a pipeline builds it: every part created from one merged options map, in configured order.
 * Row (3, 2, 1, 0, -1), prompt [0], repetition_penalty 2, temperature 0.5, top_k 3, top_p 0.7.
 */
class ChainTest {
    private static final Options OPTIONS =
            options("repetition_penalty", 2, "temperature", 0.5, "top_k", 3, "top_p", 0.7);

    private static List<LogitsProcessor> chain(String... parts) {
        return Arrays.stream(parts).map(p -> Rows.PROCESSORS.get(p).create(OPTIONS)).toList();
    }

    private static SamplingContext context(long seed) {
        return new SamplingContext(new int[] {0}, 5, new SplittableRandom(seed));
    }

    @Test
    void hfOrderRepetitionTemperatureTopKTopP() {
        // penalty: id0 3/2 = 1.5 -> (1.5, 2, 1, 0, -1); /0.5 -> (3, 4, 2, 0, -2); top-3 keeps >= 2;
        // top-p over (4, 3, 2): p = (.6652, .2447, .0900), exclusive sums 0, .6652, .9100 -> id2 removed.
        Sampler sampler = new Sampler(chain("repetition-penalty", "temperature", "top-k", "top-p"),
                new SampleSelectorFactory().create(options("temperature", 0)));
        float[] logits = {3, 2, 1, 0, -1};
        Selection s = sampler.sample(logits, context(1));
        assertLogits(logits, new float[] {3, 4, NEG_INF, NEG_INF, NEG_INF});
        assertThat(s.token()).isEqualTo(1);
        assertThat(s.logProbability()).isCloseTo(-Math.log(1 + Math.exp(-1)), within(1e-6)); // -0.3132617
        assertThat(sampler.traits()).contains(Trait.HISTORY_DEPENDENT, Trait.ARGMAX_INVARIANT);
    }

    @Test
    void sampledFromTheProcessedDistribution() {
        Sampler sampler = new Sampler(chain("repetition-penalty", "temperature", "top-k", "top-p"),
                new SampleSelectorFactory().create(OPTIONS));
        Selection s = sampler.sample(new float[] {3, 2, 1, 0, -1}, context(7));
        // softmax of (3, 4): (1/(1+e), e/(1+e)) = (0.2689414, 0.7310586)
        assertThat(s.distribution()[0]).isCloseTo(0.2689414f, within(1e-6f));
        assertThat(s.distribution()[1]).isCloseTo(0.7310586f, within(1e-6f));
        assertThat(s.distribution()[2] + s.distribution()[3] + s.distribution()[4]).isZero();
        assertThat(s.token()).isIn(0, 1);
    }

    @Test
    void orderMatters() {
        // /0.5 -> (6, 4, 2, 0, -2); top-3 -> (6, 4, 2); top-p: p(6) = 1/(1+e^-2+e^-4) = .8668 > .7 -> only id0;
        // penalty last: 6/2 = 3.
        Sampler sampler = new Sampler(chain("temperature", "top-k", "top-p", "repetition-penalty"),
                new GreedySelectorFactory().create(OPTIONS));
        float[] logits = {3, 2, 1, 0, -1};
        assertThat(sampler.sample(logits, context(1)).token()).isZero();
        assertLogits(logits, new float[] {3, NEG_INF, NEG_INF, NEG_INF, NEG_INF});
    }
}
