package ${package};

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestContexts;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The processor on hand-made histories, then inside a decoding loop on the test kit's toy model. */
class NoRepeatNGramProcessorTest {
    private final NoRepeatNGramProcessorFactory factory = new NoRepeatNGramProcessorFactory();

    @Test
    void bansExactlyTheTokensThatFollowedTheLastNMinusOneTokensBefore() {
        // history 1 2 3 1 2: the last two tokens (1 2) were followed by 3 before; with n = 3 only 3 goes
        float[] logits = process(3, new int[] {1, 2, 3, 1, 2}, 8);
        for (int id = 0; id < 8; id++) {
            assertThat(logits[id]).as("token " + id).isEqualTo(id == 3 ? Float.NEGATIVE_INFINITY : 0f);
        }
        // n = 2: the last token (2) was followed by 3 once; n = 4: (3 1 2) never occurred before
        assertThat(banned(process(2, new int[] {1, 2, 3, 1, 2}, 8))).containsExactly(3);
        assertThat(banned(process(4, new int[] {1, 2, 3, 1, 2}, 8))).isEmpty();
    }

    @Test
    void unigramsBanEveryTokenOfTheHistoryAndShortHistoriesBanNothing() {
        assertThat(banned(process(1, new int[] {5, 1, 5}, 8))).containsExactly(1, 5);
        assertThat(banned(process(3, new int[] {4}, 8))).isEmpty();
    }

    @Test
    void sizeZeroChangesNothing() {
        assertThat(banned(process(0, new int[] {1, 1, 1, 1}, 4))).isEmpty();
    }

    @Test
    void refusesBadSizesNamingTheOption() {
        for (Object bad : List.of(-1, 65, "three", 2.5)) {
            assertThatThrownBy(() -> factory.create(Options.of(Map.of(NoRepeatNGramProcessorFactory.SIZE, bad))))
                    .isInstanceOf(ArborException.class)
                    .hasMessageContaining("option 'no_repeat_ngram_size'")
                    .satisfies(e -> assertThat(((ArborException) e).kind())
                            .isEqualTo(ArborException.Kind.INVALID_INPUT));
        }
    }

    @Test
    void anEmptiedRowIsRefusedNamingTheOptionNotLeftToTheSelector() {
        // vocabulary {0, 1}, both already in the history: unigram blocking leaves nothing to choose
        assertThatThrownBy(() -> process(1, new int[] {0, 1}, 2))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("no_repeat_ngram_size").hasMessageContaining("leaves no token");
    }

    /**
     * In a sampling loop (the best-of-k generator with one candidate: plain sampling) no bigram of prompt + output
     * repeats; the same loop without the processor repeats one for most seeds, so the check has power.
     */
    @Test
    void decodingWithTheProcessorNeverRepeatsAnNGram() {
        ToyCausalBackend model = ToyCausalBackend.builder().vocabSize(16).maxPositions(64).seed(3).build();
        int withoutRepeats = 0;
        for (long seed = 0; seed < 40; seed++) {
            int[] with = generate(model, seed, List.of(factory.create(Options.of(Map.of("no_repeat_ngram_size", 2)))));
            assertThat(repeatsAnNGram(with, 2)).as("seed " + seed + ": " + java.util.Arrays.toString(with)).isFalse();
            if (!repeatsAnNGram(generate(model, seed, List.of()), 2)) {
                withoutRepeats++;
            }
        }
        assertThat(withoutRepeats).as("plain sampling avoids repeated bigrams by chance only rarely").isLessThan(20);
    }

    private static int[] generate(ToyCausalBackend model, long seed, List<LogitsProcessor> chain) {
        int[] prompt = {1, 2, 3};
        GenerationContext context = TestContexts.context(model, prompt, 30,
                () -> new Sampler(chain, TestSelectors.INVERSE_CDF), new int[0], seed,
                Map.of(BestOfKGenerator.BEST_OF, 1));
        GenerationResult result = new BestOfKGenerator().generate(context, new RecordingSink());
        assertThat(result.tokens()).hasSize(30);
        int[] all = new int[prompt.length + result.tokens().length];
        System.arraycopy(prompt, 0, all, 0, prompt.length);
        System.arraycopy(result.tokens(), 0, all, prompt.length, result.tokens().length);
        return all;
    }

    private static boolean repeatsAnNGram(int[] tokens, int n) {
        Set<List<Integer>> seen = new HashSet<>();
        for (int i = 0; i + n <= tokens.length; i++) {
            List<Integer> gram = new ArrayList<>();
            for (int j = 0; j < n; j++) {
                gram.add(tokens[i + j]);
            }
            if (!seen.add(gram)) {
                return true;
            }
        }
        return false;
    }

    private float[] process(int size, int[] history, int vocab) {
        LogitsProcessor processor = factory.create(Options.of(Map.of(NoRepeatNGramProcessorFactory.SIZE, size)));
        float[] logits = new float[vocab];
        processor.process(logits, SamplingContext.seeded(history, vocab, 0L));
        return logits;
    }

    private static List<Integer> banned(float[] logits) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < logits.length; i++) {
            if (logits[i] == Float.NEGATIVE_INFINITY) {
                out.add(i);
            }
        }
        return out;
    }
}
