package dev.arbor.autoregressive;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestContexts;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The loop of package-info's "Adding a loop", written out, is plain autoregressive decoding. */
class ToolkitLoopTest {

    /** package-info's skeleton, line for line. */
    static final class SkeletonLoop implements Generator {
        @Override
        public GenerationResult generate(GenerationContext context, TokenSink sink) {
            ModelBackend model = context.model();
            ModelCard card = model.card();
            int[] prompt = context.prompt().clone();
            DecodeChecks.validatePrompt(prompt, card);
            int budget = DecodeLimits.budget(context, prompt.length);
            Sampler sampler = DecodeChecks.sampler(context);
            TokenOutput output = new TokenOutput(context, sink, prompt, budget);
            SamplingContext history = output.history();
            int forwards = 0;
            try (KvCache cache = new KvCache(model)) {
                int[] feed = prompt;
                while (output.hasRoom() && !output.cancelled()) {
                    float[] logits = DecodeChecks.checkedCopy(cache.appendLast(feed).last(0), card);
                    forwards++;
                    Selection s = sampler.sample(logits, history);
                    DecodeChecks.checkToken(s.token(), card);
                    if (!output.commit(s.token(), s)) {
                        break;
                    }
                    feed = new int[] {s.token()};
                }
            }
            return output.result(forwards, Map.of());
        }
    }

    @Test
    void theSkeletonDecodesExactlyAsTheAutoregressiveGenerator() {
        ToyCausalBackend model = ToyCausalBackend.builder().vocabSize(40).maxPositions(64).eos(2, 1.5).build();
        int[] prompt = {1, 7, 9};
        for (long seed = 0; seed < 20; seed++) {
            for (boolean greedy : new boolean[] {true, false}) {
                RecordingSink mine = new RecordingSink();
                RecordingSink reference = new RecordingSink();
                GenerationResult a = new SkeletonLoop().generate(TestContexts.context(model, prompt, 30,
                        greedy ? TestContexts.greedy() : TestContexts.sampling(), new int[] {2}, seed, Map.of()),
                        mine);
                GenerationResult b = new AutoregressiveGenerator().generate(TestContexts.context(model, prompt, 30,
                        greedy ? TestContexts.greedy() : TestContexts.sampling(), new int[] {2}, seed, Map.of()),
                        reference);
                // tokens, log-probabilities, finish reason and forwards; the generator's stats are its own
                assertThat(a).as("seed %d, greedy %s", seed, greedy).usingRecursiveComparison()
                        .ignoringFields("stats").isEqualTo(b);
                assertThat(mine.tokens()).containsExactly(reference.tokens());
            }
        }
        assertThat(model.openStates()).isZero();
    }

    @Test
    void theBudgetIsTheLeastOfTheRequestTheOptionAndTheContext() {
        ToyCausalBackend model = ToyCausalBackend.builder().vocabSize(40).maxPositions(10).build();
        GenerationResult byRequest = new SkeletonLoop().generate(TestContexts.context(model, new int[] {1, 2}, 5,
                TestContexts.greedy(), null, 0, Map.of()), TokenSink.DISCARD);
        GenerationResult byOption = new SkeletonLoop().generate(TestContexts.context(model, new int[] {1, 2}, 5,
                TestContexts.greedy(), null, 0, Map.of(DecodeLimits.MAX_NEW_TOKENS, 3)), TokenSink.DISCARD);
        GenerationResult byContext = new SkeletonLoop().generate(TestContexts.context(model, new int[] {1, 2}, 50,
                TestContexts.greedy(), null, 0, Map.of(DecodeLimits.MAX_NEW_TOKENS, 40)), TokenSink.DISCARD);
        assertThat(byRequest.tokens()).hasSize(5);
        assertThat(byOption.tokens()).hasSize(3);
        assertThat(byContext.tokens()).hasSize(8);
        assertThat(byContext.finishReason()).isEqualTo(FinishReason.LENGTH);
    }
}
