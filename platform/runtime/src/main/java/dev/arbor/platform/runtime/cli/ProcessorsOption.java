package dev.arbor.platform.runtime.cli;

import dev.arbor.api.ArborException;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code arbor generate --processors a,b}: the request's logits processor chain, which replaces the pipeline's
 * (as HTTP's {@code arbor.processors}); the pipeline's policy decides what is allowed, as for HTTP requests.
 */
final class ProcessorsOption {
    private ProcessorsOption() {
    }

    /**
     * The request's chain: null (the pipeline's) when neither {@code --processors} nor a structured-output flag is
     * given; with both, the structured-output processor first, then the named ones.
     */
    static List<PartRef> chain(List<String> names, StructuredOutputOptions structured, PipelineDefinition d,
            Integer maxTokens, InputStream stdin) {
        if (names == null) {
            return structured == null ? null : structured.chain(d, maxTokens, stdin);
        }
        Set<String> seen = new LinkedHashSet<>();
        for (String raw : names) {
            String name = raw.strip();
            if (name.isEmpty()) {
                throw ArborException.invalid("--processors has an empty name; give names separated by commas,"
                        + " e.g. --processors temperature,top-k");
            }
            if (!seen.add(name)) {
                throw ArborException.invalid("--processors names '" + name + "' twice; give each processor once");
            }
            if (structured != null && name.equals(StructuredOutputOptions.PROCESSOR)) {
                throw ArborException.invalid("--processors names '" + name + "' and a --json-schema/--regex/"
                        + "--grammar flag adds it too; drop it from --processors");
            }
        }
        List<PartRef> chain = new ArrayList<>();
        if (structured != null) {
            chain.addAll(structured.chain(null, maxTokens, stdin));
        }
        seen.forEach(n -> chain.add(PartRef.of(n)));
        return chain;
    }
}
