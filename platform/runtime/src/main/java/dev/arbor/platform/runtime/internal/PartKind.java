package dev.arbor.platform.runtime.internal;

import dev.arbor.api.generation.Generator;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.sampling.TokenSelectorFactory;
import dev.arbor.api.tokenizer.TokenizerProvider;

/** The kinds of part a pipeline names, with the service interface that provides each and its name in messages. */
public enum PartKind {
    GENERATOR(Generator.class, "generator"),
    PROCESSOR(LogitsProcessorFactory.class, "logits processor"),
    SELECTOR(TokenSelectorFactory.class, "token selector"),
    POST_PROCESSOR(PostProcessor.class, "post-processor"),
    BACKEND(ModelBackendProvider.class, "model backend"),
    TOKENIZER(TokenizerProvider.class, "tokenizer format");

    private final Class<?> serviceType;
    private final String label;

    PartKind(Class<?> serviceType, String label) {
        this.serviceType = serviceType;
        this.label = label;
    }

    public Class<?> serviceType() {
        return serviceType;
    }

    /** How users see this kind: "logits processor 'top-p'". */
    public String describe(String name) {
        return label + " '" + name + "'";
    }

    public String label() {
        return label;
    }
}
