package dev.arbor.api.pipeline;

import java.util.List;
import java.util.Optional;
import org.osgi.annotation.versioning.ProviderType;

/** The platform's entry point for running pipelines (used by the CLI, the HTTP server and tests). */
@ProviderType
public interface PipelineService {

    /** Annotation under which {@link #analyzeImage} hands post-processors the image's pixels (since 1.3). */
    String IMAGE_PIXELS = "arbor.image_pixels";

    /** Every configured pipeline with its readiness, sorted by name. */
    List<PipelineStatus> pipelines();

    /** One pipeline's status, if it is configured. */
    Optional<PipelineStatus> status(String name);

    /**
     * Runs {@code request} to completion on the calling thread, streaming text to {@code sink}. Fails with an
     * {@code ArborException} whose kind says whether the input, a missing part or a plugin is to blame.
     */
    Completion complete(CompletionRequest request, TextSink sink);

    /**
     * The ids {@code text} encodes to with the pipeline's tokenizer, as {@link #complete} would feed them (special
     * tokens included); lets servers enforce prompt limits and report usage before generating.
     */
    int[] tokenize(String pipeline, String text);

    /**
     * {@code messages} rendered by the pipeline's chat template with {@code add_generation_prompt} true, and
     * tokenized as Hugging Face does (without adding special tokens again: the template writes them); empty when the
     * pipeline has no chat template (neither in its pipeline file nor in a {@code tokenizer_config.json} next to its
     * tokenizer), and callers then render the conversation their own way. A template that refuses the conversation
     * ({@code raise_exception}) fails with INVALID_INPUT carrying its message; a missing template engine with
     * UNAVAILABLE. The default has no templates. Since 1.4.
     */
    default Optional<RenderedChat> renderChat(String pipeline, List<ChatMessage> messages) {
        return Optional.empty();
    }

    /**
     * The vocabulary layout of {@code pipeline}'s tokenizer when it is an {@link dev.arbor.api.image.ImageTokenizer}
     * (an image pipeline), empty for a text pipeline; lets servers parse class prompts and check sizes before
     * generating. Fails like {@link #tokenize} for an unknown pipeline or a missing tokenizer. Since 1.3.
     */
    default Optional<dev.arbor.api.image.ImageLayout> imageLayout(String pipeline) {
        return Optional.empty();
    }

    /**
     * Runs the pipeline's post-processors over an existing {@code text} (tokenized with the pipeline's tokenizer,
     * without special tokens) as if the pipeline had generated it, and returns the annotated output: watermark
     * detection and other analyses. {@code options} override the post-processors' configured options.
     */
    dev.arbor.api.postprocess.PostProcessor.Output analyze(String pipeline, String text, dev.arbor.api.Options options);

    /**
     * {@link #analyze} for an image: decodes {@code png} ({@link dev.arbor.api.image.Png#decode}), re-tokenizes it
     * with the pipeline's {@link dev.arbor.api.image.ImageTokenizer} ({@code encodeImage}) and runs the
     * post-processors over those codes (text empty): watermark detection on a generated image. The post-processors
     * also find the decoded pixels, {@code float[height][width]} in [0, 1], in annotation {@link #IMAGE_PIXELS} (a
     * detector may re-tokenize them, e.g. re-aligned); that annotation and any holding bytes (the image an
     * {@code image-png} post-processor renders again) are left out of the result. Fails with
     * INVALID_INPUT when the pipeline's tokenizer is not an image tokenizer, the bytes are not a readable PNG, or the
     * image's size is not the tokenizer's. The default refuses (INVALID_INPUT): a service that runs no image
     * pipelines (test doubles) has none to analyze.
     *
     * @since 1.3
     */
    default dev.arbor.api.postprocess.PostProcessor.Output analyzeImage(String pipeline, byte[] png,
                                                                        dev.arbor.api.Options options) {
        throw dev.arbor.api.ArborException.invalid("this pipeline service does not analyze images");
    }

    /**
     * Adds or replaces a pipeline at run time (operators reconfiguring a strategy); persisted where supported.
     * Implementations open the models it references first and refuse a broken one with an {@code ArborException}.
     */
    void define(PipelineDefinition definition);

    /** The installation's model registry and the shared model cache (entries, bytes, bound), for operators. */
    default java.util.Map<String, Object> models() {
        return java.util.Map.of();
    }
}
