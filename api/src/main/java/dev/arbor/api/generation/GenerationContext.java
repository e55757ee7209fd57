package dev.arbor.api.generation;

import dev.arbor.api.Options;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.tokenizer.Tokenizer;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Everything one request gives its generator. The platform resolves the parts when the request starts and keeps
 * them until it ends, so a request never sees a half-swapped pipeline.
 *
 * @param model        the backend, shared with other requests
 * @param tokenizer    the pipeline's tokenizer
 * @param prompt       prompt ids (BOS included when the model wants it)
 * @param maxNewTokens most tokens to generate
 * @param samplers     a fresh sampling chain per call (one per row or beam: processors may keep state)
 * @param stopTokens   ids that end a row (EOS and configured stop ids); the stop token is not emitted
 * @param seed         the request's seed; every random draw comes from RNGs seeded with it
 * @param options      strategy knobs (pipeline's generator options overridden by the request's)
 * @param cancellation checked once per step
 * @param models       opens further models for this request (drafts, guides)
 */
public record GenerationContext(ModelBackend model, Tokenizer tokenizer, int[] prompt, int maxNewTokens,
                                Supplier<Sampler> samplers, int[] stopTokens, long seed, Options options,
                                Cancellation cancellation, ModelResolver models) {

    /** A context that can open no further models (unit tests of single-model strategies). */
    public GenerationContext(ModelBackend model, Tokenizer tokenizer, int[] prompt, int maxNewTokens,
                             Supplier<Sampler> samplers, int[] stopTokens, long seed, Options options,
                             Cancellation cancellation) {
        this(model, tokenizer, prompt, maxNewTokens, samplers, stopTokens, seed, options, cancellation, null);
    }

    public GenerationContext {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(samplers, "samplers");
        stopTokens = stopTokens == null ? new int[0] : stopTokens;
        options = options == null ? Options.empty() : options;
        cancellation = cancellation == null ? Cancellation.NEVER : cancellation;
        models = models == null ? ModelResolver.none(null) : models;
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("maxNewTokens must not be negative");
        }
    }

    public boolean isStopToken(int token) {
        for (int s : stopTokens) {
            if (s == token) {
                return true;
            }
        }
        return false;
    }
}
