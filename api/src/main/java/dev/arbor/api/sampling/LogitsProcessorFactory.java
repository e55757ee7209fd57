package dev.arbor.api.sampling;

import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.tokenizer.Tokenizer;
import java.util.Set;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * Creates {@link LogitsProcessor}s for requests; registered as a service with {@code arbor.part} set to the
 * processor's name. Options are the pipeline's values overridden by the request's (OpenAI names:
 * {@code temperature}, {@code top_p}, ...).
 */
@ConsumerType
public interface LogitsProcessorFactory {

    /** A processor for one request; validates {@code options} eagerly with a message naming the bad key. */
    LogitsProcessor create(Options options);

    /**
     * A processor for one request of a pipeline whose tokenizer is {@code tokenizer} (null where the caller has none):
     * processors that read the vocabulary's text (grammars, schemas) override this one. The platform calls it; the
     * default ignores the tokenizer. Since 1.2.
     */
    default LogitsProcessor create(Options options, Tokenizer tokenizer) {
        return create(options);
    }

    /** The traits every processor of this factory has (checked when a pipeline is configured). */
    default Set<Trait> traits() {
        return Set.of();
    }
}
