package dev.arbor.autoregressive;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.testkit.ToyCausalBackend;
import org.junit.jupiter.api.Test;

class KvCacheTest {

    @Test
    void prefillStepAndRollbackKeepTheStateInStepWithTheTokensFed() {
        ToyCausalBackend model = ToyCausalBackend.builder().vocabSize(50).maxPositions(64).build();
        try (KvCache cache = new KvCache(model)) {
            float[] prefill = cache.appendLast(1, 4, 9).last(0);
            assertThat(prefill).containsExactly(model.logitsFor(1, 4, 9));
            float[] step = cache.appendLast(7).last(0);
            assertThat(step).containsExactly(model.logitsFor(1, 4, 9, 7));
            float[][] rows = cache.append(new int[] {3, 5, 6}, new int[] {0, 2}).logits()[0];
            assertThat(rows[1]).containsExactly(model.logitsFor(1, 4, 9, 7, 3, 5, 6));
            assertThat(cache.length()).isEqualTo(7);
            assertThat(cache.state().length()).isEqualTo(7);

            cache.rollback(5); // a rejection: keep the prompt, 7 and 3
            assertThat(cache.length()).isEqualTo(5);
            cache.rollback(6); // holding fewer: nothing to do
            assertThat(cache.state().length()).isEqualTo(5);
            assertThat(cache.appendLast(8).last(0)).containsExactly(model.logitsFor(1, 4, 9, 7, 3, 8));
        }
        assertThat(model.openStates()).isZero();
    }

    @Test
    void pendingRollsBackToTheAgreeingPrefixAndNeverFeedsNothing() {
        ToyCausalBackend model = ToyCausalBackend.builder().vocabSize(50).maxPositions(64).build();
        try (KvCache cache = new KvCache(model)) {
            SamplingContext history = SamplingContext.seeded(new int[] {1, 4, 9}, 50, 0);
            assertThat(cache.pending(history)).containsExactly(1, 4, 9);
            cache.appendLast(1, 4, 9, 11, 12); // two drafted tokens after the history
            history.append(11);
            history.append(20); // the second draft was rejected
            assertThat(cache.pending(history)).containsExactly(20);
            assertThat(cache.length()).isEqualTo(4);
            cache.appendLast(20);
            assertThat(cache.pending(history)).as("one token is always fed for fresh logits").containsExactly(20);
            assertThat(cache.length()).isEqualTo(4);
        }
    }
}
