package dev.arbor.autoregressive;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestContexts;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class TokenOutputTest {
    private static final ToyCausalBackend MODEL = ToyCausalBackend.builder().vocabSize(1000).maxPositions(2048)
            .build();

    private static Selection selection(int token, double logProb) {
        return new Selection(token, null, logProb, Math.exp(logProb));
    }

    @Test
    void aStopTokenEndsTheRowWithoutBeingEmittedOrAppended() {
        SamplingContext history = SamplingContext.seeded(new int[] {1}, 1000, 0);
        RecordingSink sink = new RecordingSink();
        TokenOutput output = new TokenOutput(TestContexts.context(MODEL, new int[] {1}, 10, TestContexts.greedy(),
                new int[] {2}, 0, Map.of()), sink, history, 10);
        assertThat(output.commit(5, selection(5, -0.5))).isTrue();
        assertThat(output.commit(2, selection(2, -0.1))).isFalse();
        GenerationResult r = output.result(3, Map.of("k", 1));
        assertThat(r.tokens()).containsExactly(5);
        assertThat(r.logProbs()).containsExactly(-0.5);
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(r.forwardPasses()).isEqualTo(3);
        assertThat(r.stats()).containsEntry("k", 1);
        assertThat(sink.tokens()).containsExactly(5);
        assertThat(history.tokens()).containsExactly(1, 5);
    }

    @Test
    void aSinkThatSaysStopEndsTheRowWithTheTokenEmitted() {
        RecordingSink sink = new RecordingSink(2);
        TokenOutput output = new TokenOutput(TestContexts.context(MODEL, new int[] {1}, 10, TestContexts.greedy(),
                null, 0, Map.of()), sink, SamplingContext.seeded(new int[] {1}, 1000, 0), 10);
        assertThat(output.commit(5, selection(5, -1))).isTrue();
        assertThat(output.commit(6, selection(6, -1))).isFalse();
        GenerationResult r = output.result(2, Map.of());
        assertThat(r.tokens()).containsExactly(5, 6);
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
    }

    @Test
    void aCancelledRequestFinishesCancelledAndABudgetUsedUpFinishesLength() {
        AtomicBoolean cancelled = new AtomicBoolean();
        GenerationContext context = new GenerationContext(MODEL, null, new int[] {1}, 700, TestContexts.greedy(),
                null, 0, Options.empty(), cancelled::get);
        TokenOutput output = new TokenOutput(context, new RecordingSink(), SamplingContext.seeded(new int[] {1},
                1000, 0), 600);
        for (int i = 0; output.hasRoom(); i++) {
            assertThat(output.cancelled()).isFalse();
            assertThat(output.commit(3 + i % 900, selection(3 + i % 900, -i))).isTrue();
        }
        assertThat(output.left()).isZero();
        GenerationResult full = output.result(600, Map.of());
        assertThat(full.tokens()).as("kept across growth of the buffers").hasSize(600);
        assertThat(full.tokens()[599]).isEqualTo(3 + 599);
        assertThat(full.logProbs()[599]).isEqualTo(-599);
        assertThat(full.finishReason()).isEqualTo(FinishReason.LENGTH);

        TokenOutput second = new TokenOutput(context, new RecordingSink(), SamplingContext.seeded(new int[] {1},
                1000, 0), 600);
        cancelled.set(true);
        assertThat(second.cancelled()).isTrue();
        assertThat(second.result(0, Map.of()).finishReason()).isEqualTo(FinishReason.CANCELLED);
    }
}
