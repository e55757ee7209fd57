package ${package};

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.sampling.SamplingContext;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Logits processor {@code no-repeat-ngram}: no n-gram of the history (prompt and generated tokens) occurs twice.
 * After a history whose last {@code n - 1} tokens also occurred earlier, every token that followed such an earlier
 * occurrence is removed ({@code -inf}); with {@code n = 1} every token of the history is. This is Hugging Face's
 * {@code NoRepeatNGramLogitsProcessor}, after the trigram blocking of Paulus, Xiong and Socher, "A Deep Reinforced
 * Model for Abstractive Summarization" (ICLR 2018).
 *
 * <p>Option {@value #SIZE}: the n-gram length n, an integer from 0 to {@value #MAX_SIZE}; 0 turns the processor off;
 * default {@value #DEFAULT_SIZE}. Options reach a processor from the pipeline's {@code defaults}, the request's
 * options and this part's own {@code {"name", "options"}} entry, the last winning; a bad value is refused before
 * any token is generated, and the platform's error names this part.
 */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=" + NoRepeatNGramProcessorFactory.NAME,
    PartProperties.DESCRIPTION + "=Bans every token that would repeat an n-gram of the history (no_repeat_ngram_size)"})
public final class NoRepeatNGramProcessorFactory implements LogitsProcessorFactory {
    /** The part's name: what pipelines and requests write. */
    public static final String NAME = "no-repeat-ngram";
    /** Option: the n-gram length (Hugging Face's name). */
    public static final String SIZE = "no_repeat_ngram_size";
    public static final int DEFAULT_SIZE = 3;
    /** A bound on the per-token cost (a scan of the history per n-gram position), not a linguistic limit. */
    public static final int MAX_SIZE = 64;

    @Override
    public LogitsProcessor create(Options options) {
        // Validated here, once per request and before any forward: a wrong value fails with the option's name.
        int size = options.integer(SIZE, DEFAULT_SIZE, 0, MAX_SIZE);
        return size == 0 ? new Off() : new NoRepeatNGram(size);
    }

    /** It reads the history (so generators must hand each position its own); a pure function of it otherwise. */
    @Override
    public Set<Trait> traits() {
        return TRAITS;
    }

    private static final Set<Trait> TRAITS = Set.of(Trait.HISTORY_DEPENDENT, Trait.SPECULATIVE_SAFE, Trait.BATCH_SAFE);

    /** The processor for one request. Stateless: everything it needs is in the context's history. */
    static final class NoRepeatNGram implements LogitsProcessor {
        private final int size;

        NoRepeatNGram(int size) {
            this.size = size;
        }

        @Override
        public void process(float[] logits, SamplingContext context) {
            int length = context.length();
            if (length + 1 < size) {
                return; // not even one whole n-gram can end at the next position
            }
            int[] history = context.tokens();
            int prefix = size - 1;
            boolean banned = false;
            // every earlier start i whose n-1 tokens equal the history's last n-1 bans the token that followed them
            for (int i = 0; i + prefix < length; i++) {
                if (matches(history, i, length - prefix, prefix)) {
                    int next = history[i + prefix];
                    if (next >= 0 && next < logits.length && logits[next] != Float.NEGATIVE_INFINITY) {
                        logits[next] = Float.NEGATIVE_INFINITY;
                        banned = true;
                    }
                }
            }
            if (banned && noneLeft(logits)) {
                // A selector cannot choose from an empty row; say whose constraint emptied it and what to change.
                throw ArborException.invalid("option '" + SIZE + "' " + size + " leaves no token to choose after "
                        + length + " tokens (every continuation repeats an n-gram of the history); use a larger "
                        + SIZE + ", 0 to turn it off, or fewer max_tokens");
            }
        }

        @Override
        public Set<Trait> traits() {
            return TRAITS;
        }

        private static boolean matches(int[] tokens, int a, int b, int n) {
            for (int j = 0; j < n; j++) {
                if (tokens[a + j] != tokens[b + j]) {
                    return false;
                }
            }
            return true;
        }

        private static boolean noneLeft(float[] logits) {
            for (float l : logits) {
                if (l != Float.NEGATIVE_INFINITY && !Float.isNaN(l)) {
                    return false;
                }
            }
            return true;
        }
    }

    /** {@value #SIZE} = 0: changes nothing (still a part, so a request can turn the pipeline's processor off). */
    static final class Off implements LogitsProcessor {
        @Override
        public void process(float[] logits, SamplingContext context) {
        }

        @Override
        public Set<Trait> traits() {
            return TRAITS;
        }
    }
}
