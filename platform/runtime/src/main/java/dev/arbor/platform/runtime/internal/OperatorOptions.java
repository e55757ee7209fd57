package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.sampling.TokenSelectorFactory;
import dev.arbor.api.tokenizer.Tokenizer;
import java.util.List;

/**
 * Checks a pipeline's own option values (its defaults and each part's options) against its logits processors and
 * token selector, creating each once as a request without options would. A value that a part refuses is the
 * operator's mistake: the pipeline is reported unavailable with a message naming the pipeline, its file and the
 * part, instead of being "ready" while every request gets a 400 that blames the client.
 */
final class OperatorOptions {
    private OperatorOptions() {
    }

    /**
     * The problem with {@code d}'s own options, or null when every part accepts them. {@code base} is what a request
     * without options starts from (generation config and the pipeline's defaults); {@code processors} are the
     * factories of {@code d.processors()}, in order. Processors that constrain output are left out: their options
     * depend on the request's token budget and are checked per request. A part that fails otherwise than by refusing
     * input is not this check's business (its requests report it).
     */
    static String problem(PipelineDefinition d, String source, Options base, List<LogitsProcessorFactory> processors,
                          List<String> bundles, TokenSelectorFactory selector, String selectorBundle,
                          Tokenizer tokenizer) {
        for (int i = 0; i < processors.size(); i++) {
            PartRef ref = d.processors().get(i);
            LogitsProcessorFactory factory = processors.get(i);
            if (factory.traits().contains(Trait.CONSTRAINS_OUTPUT)) {
                continue;
            }
            String label = PartKind.PROCESSOR.describe(ref.name());
            try {
                factory.create(base.with(ref.options()), tokenizer);
            } catch (RuntimeException | LinkageError e) {
                String refused = refusal(d, source, label, bundles.get(i), e);
                if (refused != null) {
                    return refused;
                }
            }
        }
        String label = PartKind.SELECTOR.describe(d.selector().name());
        try {
            selector.create(base.with(d.selector().options()));
        } catch (RuntimeException | LinkageError e) {
            return refusal(d, source, label, selectorBundle, e);
        }
        return null;
    }

    /**
     * How a pipeline's source is shown to clients: a pipeline file as {@code etc/pipelines/<name>} (the server's
     * directories are not the client's business; the log has the full path), anything else as it is.
     */
    static String shownSource(String source) {
        if (source != null && source.endsWith(".json") && (source.contains("/") || source.contains("\\"))) {
            return "etc/pipelines/" + java.nio.file.Path.of(source).getFileName();
        }
        return source;
    }

    private static String refusal(PipelineDefinition d, String source, String label, String bundle, Throwable e) {
        ArborException a = GuardedParts.failure(label, bundle, e);
        if (a.kind() != ArborException.Kind.INVALID_INPUT) {
            return null;
        }
        return "option values that its parts accept (" + a.getMessage() + "; in pipeline '" + d.name() + "' from "
                + source + ": fix the pipeline's defaults or the part's options)";
    }
}
