package dev.arbor.generation.promptlookup;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.speculative.Draft;
import dev.arbor.speculative.DraftRequest;
import java.util.List;
import org.junit.jupiter.api.Test;

class PromptLookupDrafterTest {
    private static final Sampler NONE = new Sampler(List.of(), (logits, context) -> null);

    private static int[] propose(PromptLookupDrafter d, int max, int[] stop, int... history) {
        Draft draft = d.propose(new DraftRequest(SamplingContext.seeded(history, 100, 0), NONE, max, stop));
        assertThat(draft.distributions()).as("deterministic drafts have one-hot q").isNull();
        return draft.tokens();
    }

    @Test
    void proposesWhatFollowedTheMostRecentEarlierOccurrenceOfTheLongestSuffix() {
        PromptLookupDrafter d = new PromptLookupDrafter(1, 3);
        // suffix [5, 6, 7] occurs at 1 and at 6; the most recent (6) is followed by 8, 9
        assertThat(propose(d, 10, null, 1, 5, 6, 7, 2, 3, 5, 6, 7, 8, 9, 4, 5, 6, 7))
                .containsExactly(8, 9, 4, 5, 6, 7);
        // capped by maxTokens
        assertThat(propose(d, 2, null, 1, 5, 6, 7, 2, 3, 5, 6, 7, 8, 9, 4, 5, 6, 7)).containsExactly(8, 9);
        // no 3-gram or 2-gram match: falls back to the 1-gram [7], most recent earlier occurrence at index 2
        assertThat(propose(d, 3, null, 1, 7, 7, 3, 4, 9, 7)).containsExactly(3, 4, 9);
        // the longer match wins over a more recent shorter one: [3, 4] at index 1 vs [4] at index 5
        assertThat(propose(d, 2, null, 1, 3, 4, 8, 8, 4, 6, 3, 4)).containsExactly(8, 8);
    }

    @Test
    void nothingWhenNoNgramRecursAndMinNgramIsHonoured() {
        assertThat(propose(new PromptLookupDrafter(1, 3), 5, null, 1, 2, 3, 4, 5)).isEmpty();
        assertThat(propose(new PromptLookupDrafter(1, 3), 5, null, 1)).isEmpty();
        // only the 1-gram [4] recurs: min_ngram 2 refuses it
        assertThat(propose(new PromptLookupDrafter(2, 3), 5, null, 4, 9, 8, 4)).isEmpty();
        assertThat(propose(new PromptLookupDrafter(1, 3), 5, null, 4, 9, 8, 4)).containsExactly(9, 8, 4);
    }

    @Test
    void aProposalEndsAfterItsFirstStopToken() {
        assertThat(propose(new PromptLookupDrafter(1, 2), 10, new int[] {0}, 3, 4, 5, 0, 6, 3, 4))
                .containsExactly(5, 0);
    }
}
