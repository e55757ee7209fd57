package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TopTokens;
import org.junit.jupiter.api.Test;

class AlternativesSelectorTest {
    private static final float[] LOGITS = {0.5f, 2.0f, -1.0f, 2.0f, Float.NEGATIVE_INFINITY, 1.25f};

    /** log_softmax by hand, in double. */
    private static double logProbability(int id) {
        double sum = 0;
        for (float v : LOGITS) {
            sum += Math.exp(v);
        }
        return LOGITS[id] - Math.log(sum);
    }

    @Test
    void aGreedySelectionCarriesTheSoftmaxOfWhatTheSelectorSawNotItsOneHot() {
        // an argmax selector: its distribution is one-hot, which says nothing about the runner-up
        AlternativesSelector selector = new AlternativesSelector((logits, context) -> {
            float[] oneHot = new float[logits.length];
            oneHot[1] = 1f;
            return new Selection(1, oneHot, logProbability(1), Math.exp(logProbability(1)));
        }, 4);
        Selection s = selector.select(LOGITS.clone(), SamplingContext.seeded(new int[] {0}, LOGITS.length, 1L));
        TopTokens top = s.alternatives();
        // sorted, equal values in id order, the chosen token first
        assertThat(top.ids()).containsExactly(1, 3, 5, 0);
        for (int i = 0; i < top.size(); i++) {
            assertThat(top.logProbabilities()[i]).isCloseTo(logProbability(top.ids()[i]), within(1e-12));
        }
        assertThat(top.logProbabilities()[0]).isEqualTo(s.logProbability()); // exactly: the listing shows one value
        assertThat(s.token()).isEqualTo(1);
    }

    @Test
    void listsTheWholeVocabularyWhenAskedForMoreAndRemovedTokensLast() {
        TopTokens top = TopTokens.of(LOGITS, 20);
        assertThat(top.ids()).containsExactly(1, 3, 5, 0, 2, 4);
        assertThat(top.logProbabilities()[5]).isEqualTo(Double.NEGATIVE_INFINITY);
    }

    @Test
    void aSelectionWithoutAlternativesStaysAsItWas() {
        Selection plain = new Selection(2, new float[] {0, 0, 1}, -0.1, 0.9);
        assertThat(plain.alternatives()).isNull();
        assertThat(plain.withAlternatives(TopTokens.of(LOGITS, 1)).alternatives().ids()).containsExactly(1);
    }

    @Test
    void aGeneratorsOwnSelectionListsItsDistributionUnlessOneHot() {
        Selection drafted = new Selection(2, new float[] {0.25f, 0.125f, 0.5f, 0.125f}, Math.log(0.5), 0.5);
        TopTokens top = AlternativesSelector.fromDistribution(drafted, 3);
        assertThat(top.ids()).containsExactly(2, 0, 1);
        assertThat(top.logProbabilities()[0]).isCloseTo(Math.log(0.5), within(1e-6));
        assertThat(top.logProbabilities()[2]).isCloseTo(Math.log(0.125), within(1e-6));
        assertThat(AlternativesSelector.fromDistribution(new Selection(1, new float[] {0, 1, 0}, -0.2, 0.8), 3))
                .isNull();
    }
}
