package dev.arbor.api.postprocess;

import dev.arbor.api.Options;
import dev.arbor.api.tokenizer.Tokenizer;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * Transforms a finished output (detokenized text, stop strings, watermark detection, reports); registered as a
 * service with {@code arbor.part} set to its name. Runs after generation, in pipeline order.
 */
@ConsumerType
public interface PostProcessor {

    /** Returns the output to hand on; may add annotations but must not lose tokens. */
    Output process(Output output, Tokenizer tokenizer, Options options);

    /**
     * What a post-processor sees and returns.
     *
     * @param tokens      generated ids
     * @param text        their text so far (detokenized by the platform)
     * @param annotations reports added by post-processors, by name
     */
    record Output(int[] tokens, String text, java.util.Map<String, Object> annotations) {
        public Output {
            annotations = annotations == null ? java.util.Map.of() : java.util.Map.copyOf(annotations);
        }

        public Output withText(String newText) {
            return new Output(tokens, newText, annotations);
        }

        public Output annotate(String name, Object value) {
            java.util.Map<String, Object> copy = new java.util.LinkedHashMap<>(annotations);
            copy.put(name, value);
            return new Output(tokens, text, copy);
        }
    }
}
