package dev.arbor.api.sampling;

import org.osgi.annotation.versioning.ConsumerType;

/** Chooses one token from processed logits (argmax, categorical sampling, ...). One instance serves one request. */
@ConsumerType
@FunctionalInterface
public interface TokenSelector {

    /** The chosen token with the distribution it was drawn from; draws randomness only from the context's RNG. */
    Selection select(float[] logits, SamplingContext context);
}
