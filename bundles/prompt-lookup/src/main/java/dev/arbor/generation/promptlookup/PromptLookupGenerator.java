package dev.arbor.generation.promptlookup;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.speculative.SpeculativeDecoding;
import java.util.Objects;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Prompt lookup decoding (Saxena 2023, "Prompt Lookup Decoding", github.com/apoorvumang/prompt-lookup-decoding;
 * in transformers as {@code prompt_lookup_num_tokens}): speculative decoding whose drafts are n-grams copied from
 * the prompt and the text generated so far ({@link PromptLookupDrafter}), no draft model. The drafts are
 * deterministic (one-hot q) and go through the exact verification loop of {@link SpeculativeDecoding} (Leviathan et
 * al. 2023; Chen et al. 2023; METHODS.md section 2.2: accept with probability p(x), else draw from p without x), so
 * sampling keeps the target distribution and greedy output equals plain greedy token for token. It pays off when
 * the output repeats its input (summaries, code edits, extraction).
 *
 * <p><b>Options</b>: {@code max_ngram} (1..32, default 3) and {@code min_ngram} (1..max_ngram, default 1): the
 * n-gram sizes tried, longest first; {@code lookahead} (1..64, default 10): the most tokens proposed per step;
 * {@code max_new_tokens}. Stats: the {@code speculative.*} keys of {@link SpeculativeDecoding}.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=prompt-lookup",
        PartProperties.DESCRIPTION + "=Prompt lookup decoding: n-gram drafts from the prompt and the text so far, "
                + "verified exactly (max_ngram, min_ngram, lookahead)"})
public final class PromptLookupGenerator implements Generator {
    static final String MAX_NGRAM = "max_ngram";
    static final String MIN_NGRAM = "min_ngram";
    static final int DEFAULT_LOOKAHEAD = 10;

    @Override
    public Set<Trait> requirements() {
        return Set.of(Trait.NEEDS_STATE_TRUNCATE);
    }

    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return SpeculativeDecoding.processorRefusal(processorTraits);
    }

    /** See {@link SpeculativeDecoding#COMMITS_IN_ORDER}. */
    @Override
    public boolean commitsInOrder() {
        return SpeculativeDecoding.COMMITS_IN_ORDER;
    }

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Options options = context.options();
        int maxNgram = options.integer(MAX_NGRAM, 3, 1, 32);
        int minNgram = options.integer(MIN_NGRAM, 1, 1, 32);
        if (minNgram > maxNgram) {
            throw ArborException.invalid("option 'min_ngram' is " + minNgram + " but 'max_ngram' is " + maxNgram
                    + "; min_ngram must not exceed max_ngram");
        }
        int lookahead = SpeculativeDecoding.lookahead(options, DEFAULT_LOOKAHEAD);
        return SpeculativeDecoding.decode(context, sink, new PromptLookupDrafter(minNgram, maxNgram), lookahead);
    }
}
