package dev.arbor.platform.oip.server;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferResponse;
import dev.arbor.platform.oip.InferenceException;
import dev.arbor.platform.oip.InferenceModel;
import dev.arbor.platform.oip.Tensor;
import dev.arbor.platform.oip.TensorSpec;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A pipeline served as a model: input {@code text_input} (BYTES, shape {@code [b]}: b UTF-8 prompts) or {@code
 * input_ids} (INT64, shape {@code [b, n]}: b prompts of n token ids), outputs {@code text_output} (BYTES {@code [b]})
 * and {@code output_ids} (INT64 {@code [b, m]}, m the longest completion, shorter rows padded with -1, which is no
 * token). Each prompt of a batch is one completion, in order, as the OpenAI routes run {@code n}; with a {@code seed},
 * prompt i uses seed + i. Parameters as {@link PipelineParameters} says; the server's limits apply as on the OpenAI
 * routes: {@code max_tokens}, prompt bytes before tokenizing, prompt tokens, and a batch of at most {@link
 * Limits#maxBatch()} prompts. Response parameters {@code prompt_tokens} and {@code completion_tokens} count the
 * batch's tokens.
 */
public final class PipelineModel implements InferenceModel {
    /** The platform metadata reports for a pipeline. */
    public static final String PLATFORM = "arbor-pipeline";
    public static final String TEXT_INPUT = "text_input";
    public static final String INPUT_IDS = "input_ids";
    public static final String TEXT_OUTPUT = "text_output";
    public static final String OUTPUT_IDS = "output_ids";
    /** The filler of {@link #OUTPUT_IDS} rows shorter than the longest: no tokenizer has a negative id. */
    public static final long PAD_ID = -1;

    private static final List<TensorSpec> INPUTS = List.of(new TensorSpec(TEXT_INPUT, "BYTES", List.of(-1L)),
            new TensorSpec(INPUT_IDS, "INT64", List.of(-1L, -1L)));
    private static final List<TensorSpec> OUTPUTS = List.of(new TensorSpec(TEXT_OUTPUT, "BYTES", List.of(-1L)),
            new TensorSpec(OUTPUT_IDS, "INT64", List.of(-1L, -1L)));

    /**
     * The server's limits on a request, the OpenAI routes' own.
     *
     * @param maxTokens       the largest {@code max_tokens}; also caps a pipeline's default
     * @param maxPromptTokens most tokens per prompt; 0 = only the model's context
     * @param maxPromptBytes  largest prompt in UTF-8 bytes, checked before tokenizing; 0 = no byte limit
     * @param maxBatch        most prompts per request
     */
    public record Limits(int maxTokens, int maxPromptTokens, long maxPromptBytes, int maxBatch) {
        /** The OpenAI routes' most completions per request ({@code n}), here the most prompts per request. */
        public static final int DEFAULT_MAX_BATCH = 16;
        /** Upper bound on the UTF-8 bytes one token stands for (the HTTP server's PromptLimits uses the same). */
        public static final int BYTES_PER_TOKEN = 256;

        /**
         * The limits from the server's settings: the byte limit is {@code maxPromptBytes}, or else {@value
         * #BYTES_PER_TOKEN} bytes per allowed prompt token, so a prompt that cannot fit is refused untokenized.
         */
        public static Limits of(int maxTokens, int maxPromptTokens, long maxPromptBytes) {
            long bytes = maxPromptBytes > 0 ? maxPromptBytes : (long) maxPromptTokens * BYTES_PER_TOKEN;
            return new Limits(maxTokens, maxPromptTokens, bytes, DEFAULT_MAX_BATCH);
        }
    }

    private final PipelineService pipelines;
    private final String name;
    private final Limits limits;

    public PipelineModel(PipelineService pipelines, String name, Limits limits) {
        this.pipelines = pipelines;
        this.name = name;
        this.limits = limits;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String platform() {
        return PLATFORM;
    }

    @Override
    public List<TensorSpec> inputs() {
        return INPUTS;
    }

    @Override
    public List<TensorSpec> outputs() {
        return OUTPUTS;
    }

    @Override
    public boolean ready() {
        return pipelines.status(name).map(PipelineStatus::ready).orElse(false);
    }

    @Override
    public InferResponse infer(InferRequest request) throws InferenceException {
        PipelineStatus status = pipelines.status(name).orElseThrow(() -> new InferenceException(
                InferenceException.Status.NOT_FOUND, "pipeline '" + name + "' is no longer configured"));
        PipelineParameters params = PipelineParameters.parse(request.parameters(), limits.maxTokens());
        List<Object> prompts = prompts(request);
        int maxTokens = params.maxTokens() != null ? params.maxTokens() : defaultMaxTokens(status);
        List<Completion> done = new ArrayList<>();
        try {
            for (int i = 0; i < prompts.size(); i++) {
                long left = request.deadlineMillis() - System.currentTimeMillis();
                if (left <= 0 || Thread.currentThread().isInterrupted()) {
                    throw new InferenceException(InferenceException.Status.DEADLINE, "the request ran past its"
                            + " deadline after " + i + " of " + prompts.size() + " prompts");
                }
                Object prompt = prompts.get(i);
                checkTokens(prompt, i);
                Map<String, Object> options = new LinkedHashMap<>(params.options());
                if (options.get("seed") instanceof Long seed && i > 0) {
                    options.put("seed", seed + i);
                }
                options.put("max_tokens", maxTokens);
                options.put("timeout_ms", Math.max(1, left));
                CompletionRequest c = new CompletionRequest(name, prompt instanceof String s ? s : null,
                        prompt instanceof int[] ids ? ids : null, params.stop(), params.generator(),
                        params.processors(), Options.of(options));
                Completion completion = pipelines.complete(c, TextSink.DISCARD);
                if (completion.finishReason() == FinishReason.CANCELLED) {
                    throw new InferenceException(InferenceException.Status.DEADLINE, "the request ran past its"
                            + " deadline and its generator stopped after " + completion.tokens().length + " tokens");
                }
                done.add(completion);
            }
        } catch (ArborException e) {
            throw from(e);
        }
        return response(request, done);
    }

    /** The pipeline's default max_tokens (256 without one), capped by the server's limit, as the OpenAI routes do. */
    private int defaultMaxTokens(PipelineStatus status) {
        int fallback = 256;
        if (status.definition() != null) {
            try {
                fallback = status.definition().defaults().integer("max_tokens", fallback, 0, Integer.MAX_VALUE);
            } catch (ArborException e) {
                // a malformed default is the pipeline file's problem; the platform reports it when it runs
            }
        }
        return Math.min(fallback, limits.maxTokens());
    }

    /** The batch's prompts: Strings from text_input, int[]s from input_ids, checked against the limits. */
    private List<Object> prompts(InferRequest request) throws InferenceException {
        Tensor text = request.input(TEXT_INPUT);
        Tensor ids = request.input(INPUT_IDS);
        if ((text == null) == (ids == null)) {
            throw TensorChecks.invalid("inputs", text == null ? "give the prompts as '" + TEXT_INPUT + "' (BYTES,"
                    + " shape [b]) or as '" + INPUT_IDS + "' (INT64, shape [b, n])" : "give either '" + TEXT_INPUT
                    + "' or '" + INPUT_IDS + "', not both");
        }
        String field = "inputs[" + request.inputs().indexOf(text == null ? ids : text) + "]";
        long batch = (text == null ? ids : text).shape().get(0);
        if (batch < 1 || batch > limits.maxBatch()) {
            throw TensorChecks.invalid(field + ".shape", "a request carries 1 to " + limits.maxBatch()
                    + " prompts, got " + batch);
        }
        List<Object> prompts = new ArrayList<>();
        if (text != null) {
            byte[][] data = (byte[][]) text.data();
            for (int i = 0; i < data.length; i++) {
                if (limits.maxPromptBytes() > 0 && data[i].length > limits.maxPromptBytes()) {
                    throw TensorChecks.invalid(field + ".data[" + i + "]", "the prompt is larger than this"
                            + " server's limit of " + limits.maxPromptBytes() + " UTF-8 bytes; send a shorter"
                            + " prompt");
                }
                prompts.add(utf8(field + ".data[" + i + "]", data[i]));
            }
            return prompts;
        }
        long[] data = (long[]) ids.data();
        int n = (int) ids.shape().get(1).longValue();
        if (n == 0) {
            throw TensorChecks.invalid(field + ".shape", "a prompt needs at least one token id");
        }
        for (int b = 0; b < batch; b++) {
            int[] row = new int[n];
            for (int j = 0; j < n; j++) {
                long id = data[b * n + j];
                if (id < 0 || id > Integer.MAX_VALUE) {
                    throw TensorChecks.invalid(field + ".data[" + (b * n + j) + "]", "a token id is 0 or more, got "
                            + id);
                }
                row[j] = (int) id;
            }
            prompts.add(row);
        }
        return prompts;
    }

    /**
     * INVALID when a prompt has more tokens than {@code max_prompt_tokens}; tokenizes text (on the caller's worker).
     */
    private void checkTokens(Object prompt, int index) throws InferenceException {
        if (limits.maxPromptTokens() <= 0) {
            return;
        }
        int count = prompt instanceof int[] ids ? ids.length : pipelines.tokenize(name, (String) prompt).length;
        if (count > limits.maxPromptTokens()) {
            throw TensorChecks.invalid("inputs", "prompt " + index + " has " + count + " tokens, more than this"
                    + " server's limit of " + limits.maxPromptTokens() + " (max_prompt_tokens)");
        }
    }

    private static String utf8(String field, byte[] bytes) throws InferenceException {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw TensorChecks.invalid(field, "a text prompt must be UTF-8");
        }
    }

    private InferResponse response(InferRequest request, List<Completion> done) {
        boolean all = request.outputs().isEmpty();
        List<Tensor> outputs = new ArrayList<>();
        long promptTokens = 0;
        long completionTokens = 0;
        int longest = 0;
        for (Completion c : done) {
            promptTokens += c.promptTokens().length;
            completionTokens += c.tokens().length;
            longest = Math.max(longest, c.tokens().length);
        }
        if (all || request.outputs().contains(TEXT_OUTPUT)) {
            byte[][] texts = new byte[done.size()][];
            for (int i = 0; i < texts.length; i++) {
                texts[i] = done.get(i).text().getBytes(StandardCharsets.UTF_8);
            }
            outputs.add(new Tensor(TEXT_OUTPUT, "BYTES", List.of((long) texts.length), texts, null));
        }
        if (all || request.outputs().contains(OUTPUT_IDS)) {
            long[] ids = new long[done.size() * longest];
            java.util.Arrays.fill(ids, PAD_ID);
            for (int i = 0; i < done.size(); i++) {
                int[] tokens = done.get(i).tokens();
                for (int j = 0; j < tokens.length; j++) {
                    ids[i * longest + j] = tokens[j];
                }
            }
            outputs.add(new Tensor(OUTPUT_IDS, "INT64", List.of((long) done.size(), (long) longest), ids, null));
        }
        return new InferResponse(name, "", request.id(), Map.of("prompt_tokens", promptTokens,
                "completion_tokens", completionTokens), outputs);
    }

    /** The platform's failure kinds as the protocol's statuses (the same split the OpenAI routes make). */
    public static InferenceException from(ArborException e) {
        InferenceException.Status status = switch (e.kind()) {
            case INVALID_INPUT, INCOMPATIBLE -> InferenceException.Status.INVALID;
            case NOT_FOUND -> InferenceException.Status.NOT_FOUND;
            case UNAVAILABLE -> InferenceException.Status.UNAVAILABLE;
            case CANCELLED -> InferenceException.Status.DEADLINE;
            case BAD_MODEL, PLUGIN_FAILURE -> InferenceException.Status.INTERNAL;
        };
        return new InferenceException(status, e.getMessage(), e);
    }
}
