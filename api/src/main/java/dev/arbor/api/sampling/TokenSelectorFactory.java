package dev.arbor.api.sampling;

import dev.arbor.api.Options;
import org.osgi.annotation.versioning.ConsumerType;

/** Creates {@link TokenSelector}s; registered as a service with {@code arbor.part} set to the selector's name. */
@ConsumerType
public interface TokenSelectorFactory {

    /** A selector for one request; validates {@code options} eagerly. */
    TokenSelector create(Options options);
}
