package dev.arbor.platform.http.internal;

import dev.arbor.platform.oip.server.ApiKeyHash;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.ArborException;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.platform.http.internal.OpenAiResponses.Choice;
import dev.arbor.platform.http.internal.OpenAiResponses.Meta;
import dev.arbor.platform.http.internal.OpenAiResponses.TokenLogprob;
import dev.arbor.platform.oip.server.RequestGate;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Pattern;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * The OpenAI-compatible routes ({@code GET /v1/models}, {@code POST /v1/completions}, {@code POST
 * /v1/chat/completions}, {@code POST /v1/images/generations}) and {@code GET /metrics}. Runs on Jetty's threads:
 * authenticates, reads and checks the request, then hands generation to {@link Workers}, which enforce the deadline.
 */
final class OpenAiHandler extends Handler.Abstract {
    private static final System.Logger LOG = System.getLogger("dev.arbor.http");
    static final String REQUEST_ID_HEADER = "X-Request-Id";
    private static final Pattern CLIENT_REQUEST_ID = Pattern.compile("[A-Za-z0-9._:/+=-]{1,128}");

    private final PipelineService pipelines;
    private final ServerSettings settings;
    private final ServerMetrics metrics;
    private final Workers workers;
    private final PromptLimits promptLimits;
    private final long created = System.currentTimeMillis() / 1000;
    private final ApiKeyHash apiKey;
    private final RequestJson json;
    private final RequestGate gate = new RequestGate();
    private BodyReader bodies;
    /** The Open Inference Protocol's routes (/v2), when the server was given them; null: none. */
    private volatile OipRoutes oip;
    /** True once a drain's delay has passed: new requests are refused even before this server's gate closes. */
    private volatile java.util.function.BooleanSupplier refusing = () -> false;
    /** The prognostics service, when one runs (POST /v1/prognostics/assess); null: none. */
    private volatile java.util.function.Supplier<dev.arbor.api.prognostics.Prognostics> prognostics = () -> null;

    OpenAiHandler(PipelineService pipelines, ServerSettings settings, ServerMetrics metrics, Workers workers) {
        this.pipelines = pipelines;
        this.settings = settings;
        this.metrics = metrics;
        this.workers = workers;
        this.promptLimits = new PromptLimits(settings);
        this.apiKey = settings.apiKey();
        this.json = new RequestJson(settings.maxBodyBytes());
    }

    /** Where {@code POST /v1/prognostics/assess} finds the prognostics service (null answers: none runs). */
    void prognostics(java.util.function.Supplier<dev.arbor.api.prognostics.Prognostics> service) {
        this.prognostics = service;
    }

    /**
     * Serves the Open Inference Protocol's /v2 routes with {@code routes}; refuses new requests once {@code refusing}
     * (a drain's delay has passed).
     */
    void oip(OipRoutes routes, java.util.function.BooleanSupplier refusing) {
        this.oip = routes;
        this.refusing = refusing;
    }

    @Override
    protected void doStart() throws Exception {
        super.doStart();
        bodies = new BodyReader(settings.maxBodyBytes(), settings.bodyTimeoutMillis(), getServer().getScheduler(),
                getServer().getThreadPool());
    }

    /**
     * Starts a graceful shutdown: from now on new requests and those still waiting for a worker are answered 503
     * with {@code Retry-After}; waits up to {@code graceMillis} for the requests already running; true when all
     * finished.
     */
    boolean drain(long graceMillis) throws InterruptedException {
        gate.close();
        workers.drain();
        return gate.awaitEmpty(graceMillis);
    }

    /** The state of one exchange, for the error path and the metrics. */
    private static final class Exchange {
        final Request request;
        final Response response;
        final Callback callback;
        final String requestId;
        final long start = System.nanoTime();
        String endpoint = "other";
        String pipeline = ServerMetrics.NO_PIPELINE;
        int status = 200;
        /** Whether the whole request body was consumed: if not, the connection cannot carry another request. */
        boolean bodyRead;
        /** The request body, once read. */
        byte[] body;
        /** Whether the shutdown gate let this request in (it then counts it out when finished). */
        boolean admitted;
        SseStream stream;
        /** Watches the connection while the request's work runs; null before that. */
        ClientDeparture departure;

        Exchange(Request request, Response response, Callback callback, String requestId) {
            this.request = request;
            this.response = response;
            this.callback = callback;
            this.requestId = requestId;
        }
    }

    /** One step of handling an exchange; returns false when the exchange goes on asynchronously (body reading). */
    private interface Step {
        boolean run();
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        String requestId = requestId(request);
        response.getHeaders().put(REQUEST_ID_HEADER, requestId);
        OipRoutes routes = oip;
        if (routes != null && OipRoutes.isHealth(request.getMethod(), request.getHttpURI().getPath())) {
            // probes: no API key, answered while draining (readiness says so), no log line per probe
            OipRoutes.Answer health = routes.health(request.getHttpURI().getPath());
            response.setStatus(health.status());
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
            response.write(true, ByteBuffer.wrap(health.body().toString().getBytes(StandardCharsets.UTF_8)),
                    callback);
            return true;
        }
        Exchange ex = new Exchange(request, response, callback, requestId);
        metrics.requestStarted();
        ex.admitted = !refusing.getAsBoolean() && gate.enter();
        serve(ex, () -> {
            if (!ex.admitted) {
                throw ApiError.stopping();
            }
            authenticate(request);
            if (!readsBody(ex)) {
                route(ex);
                return true;
            }
            // the body arrives asynchronously: a slow sender holds no thread, and the rest runs once it is in
            bodies.read(request).whenComplete((body, failure) -> serve(ex, () -> {
                if (failure != null) {
                    Throwable cause = failure instanceof java.util.concurrent.CompletionException c
                            && c.getCause() != null ? c.getCause() : failure;
                    throw cause instanceof ApiError a ? a : ApiError.bodyAborted(cause);
                }
                ex.body = body;
                ex.bodyRead = true;
                route(ex);
                return true;
            }));
            return false;
        });
        return true;
    }

    /** Runs {@code step}, answering its failure; finishes the exchange (metrics, log) unless it goes on. */
    private void serve(Exchange ex, Step step) {
        boolean finished = true;
        try {
            finished = step.run();
        } catch (ApiError e) {
            fail(ex, e);
        } catch (ArborException e) {
            fail(ex, ApiError.from(e));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "[" + ex.requestId + "] " + ex.request.getMethod() + " "
                    + ex.request.getHttpURI().getPath() + " failed", e);
            fail(ex, new ApiError(500, "server_error", null, "internal_error", "internal error: " + e));
        } finally {
            if (finished) {
                finish(ex);
            }
        }
    }

    private void finish(Exchange ex) {
        long nanos = System.nanoTime() - ex.start;
        metrics.requestFinished(ex.endpoint, ex.pipeline, ex.status, nanos);
        LOG.log(ex.status >= 500 ? System.Logger.Level.WARNING : System.Logger.Level.INFO,
                () -> "[" + ex.requestId + "] " + ex.request.getMethod() + " " + ex.request.getHttpURI().getPath()
                        + " -> " + ex.status + " in " + nanos / 1_000_000 + " ms (pipeline " + ex.pipeline + ")");
        if (ex.admitted) {
            gate.exit();
        }
    }

    /** POSTs to the routes that take a JSON body (named as their endpoint); others are answered without one. */
    private boolean readsBody(Exchange ex) {
        if (!"POST".equals(ex.request.getMethod())) {
            return false;
        }
        ex.endpoint = switch (ex.request.getHttpURI().getPath()) {
            case "/v1/completions" -> "completions";
            case "/v1/chat/completions" -> "chat.completions";
            case "/v1/arbor/watermark/detect" -> "watermark.detect";
            case "/v1/images/generations" -> "images.generations";
            case "/v1/prognostics/assess" -> "prognostics.assess";
            default -> oip != null && OipRoutes.isInfer(ex.request.getHttpURI().getPath()) ? "oip.infer"
                    : ex.endpoint;
        };
        return !ex.endpoint.equals("other");
    }

    private void route(Exchange ex) {
        String method = ex.request.getMethod();
        String path = ex.request.getHttpURI().getPath();
        switch (path) {
            case "/v1/models" -> {
                ex.endpoint = "models";
                requireMethod(method, "GET");
                json(ex, 200, OpenAiResponses.models(pipelines.pipelines(), created));
            }
            case "/v1/completions", "/v1/chat/completions" -> {
                boolean chat = path.equals("/v1/chat/completions");
                ex.endpoint = chat ? "chat.completions" : "completions";
                requireMethod(method, "POST");
                complete(ex, chat);
            }
            case "/v1/arbor/watermark/detect" -> {
                ex.endpoint = "watermark.detect";
                requireMethod(method, "POST");
                detect(ex);
            }
            case "/v1/images/generations" -> {
                ex.endpoint = "images.generations";
                requireMethod(method, "POST");
                images(ex);
            }
            case "/v1/prognostics/assess" -> {
                ex.endpoint = "prognostics.assess";
                requireMethod(method, "POST");
                assessPrognostics(ex);
            }
            case "/metrics" -> {
                ex.endpoint = "metrics";
                requireMethod(method, "GET");
                ex.response.setStatus(200);
                ex.response.getHeaders().put(HttpHeader.CONTENT_TYPE, ServerMetrics.CONTENT_TYPE);
                ex.response.write(true, ByteBuffer.wrap(metrics.scrape().getBytes(StandardCharsets.UTF_8)),
                        ex.callback);
            }
            default -> {
                if (oip != null && OipRoutes.handles(path)) {
                    routeOip(ex, oip, method, path);
                    return;
                }
                throw ApiError.notFound("no route " + method + " " + path + "; this server answers GET"
                        + " /v1/models, POST /v1/completions, POST /v1/chat/completions, POST /v1/images/generations,"
                        + " POST /v1/arbor/watermark/detect, POST /v1/prognostics/assess and GET /metrics");
            }
        }
    }

    // ------------------------------------------------------------------------------ Open Inference Protocol (v2)

    /** The /v2 routes other than health (see {@link OipRoutes}): authenticated and gated like the OpenAI ones. */
    private void routeOip(Exchange ex, OipRoutes routes, String method, String path) {
        if (path.equals("/v2")) {
            ex.endpoint = "oip.server.metadata";
            requireMethod(method, "GET");
            answer(ex, routes.serverMetadata());
            return;
        }
        OipRoutes.ModelPath p = OipRoutes.modelPath(path);
        if (p == null) {
            throw ApiError.notFound("no route " + method + " " + path + "; the Open Inference Protocol routes are"
                    + " GET /v2, GET /v2/health/live, GET /v2/health/ready, GET /v2/models/{name}, GET"
                    + " /v2/models/{name}/ready and POST /v2/models/{name}/infer");
        }
        ex.endpoint = p.endpoint();
        switch (p.action()) {
            case "/infer" -> {
                requireMethod(method, "POST");
                inferOip(ex, routes, p);
            }
            case "/ready" -> {
                requireMethod(method, "GET");
                answer(ex, routes.modelReady(p));
            }
            default -> {
                requireMethod(method, "GET");
                answer(ex, routes.metadata(p));
            }
        }
    }

    /** {@code POST /v2/models/{name}/infer}: checked on this thread, run by a worker under the deadline. */
    private void inferOip(Exchange ex, OipRoutes routes, OipRoutes.ModelPath p) {
        dev.arbor.platform.oip.InferenceModel model = routes.model(p);
        ex.pipeline = model.name();
        long timeoutMillis = settings.requestTimeoutMillis();
        long deadline = ex.start + timeoutMillis * 1_000_000L;
        dev.arbor.platform.oip.InferRequest req = OipRoutes.read(model, readJson(ex), System.currentTimeMillis()
                + Math.max(0, (deadline - System.nanoTime()) / 1_000_000L), settings.maxBodyBytes());
        ClientDeparture departure = ClientDeparture.watch(ex.request);
        ex.departure = departure;
        JsonNode body;
        try {
            body = workers.call(ex.requestId, () -> OipRoutes.infer(model, req), deadline, grace(timeoutMillis),
                    timeoutMillis, departure);
        } finally {
            departure.close();
        }
        closeIfPipelined(ex);
        json(ex, 200, body);
    }

    private void answer(Exchange ex, OipRoutes.Answer answer) {
        json(ex, answer.status(), answer.body());
    }

    /** The client's {@code X-Request-Id} when it is a sane token (it goes into logs), else a fresh one. */
    static String requestId(Request request) {
        String given = request.getHeaders().get(REQUEST_ID_HEADER);
        if (given != null && CLIENT_REQUEST_ID.matcher(given).matches()) {
            return given;
        }
        return "req-" + UUID.randomUUID().toString().replace("-", "");
    }

    private void authenticate(Request request) {
        if (apiKey == null) {
            return;
        }
        String header = request.getHeaders().get(HttpHeader.AUTHORIZATION);
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw ApiError.unauthorized("missing API key: send the header 'Authorization: Bearer <key>'");
        }
        // digests have equal length whatever the key's length, so the comparison's time reveals nothing
        if (!apiKey.matches(header.substring(7).trim())) {
            throw ApiError.unauthorized("incorrect API key");
        }
    }

    private static void requireMethod(String method, String allowed) {
        if (!allowed.equals(method)) {
            throw new ApiError(405, "invalid_request_error", null, "method_not_allowed", "method " + method
                    + " is not allowed here; use " + allowed);
        }
    }

    // ------------------------------------------------------------------------------------------------- analysis

    /**
     * {@code POST /v1/arbor/watermark/detect} with {@code {"model": PIPELINE, "text": ..., "key_id": optional}}:
     * runs the pipeline's detector post-processors over the text and answers their reports. Instead of
     * {@code text}, {@code image_b64} (standard base64 of a PNG's bytes, as {@code /v1/images/generations} returns
     * them in {@code b64_json}) checks an image: the pipeline re-tokenizes it with its image tokenizer. Images come
     * only inline, never by path or URL: the server reads no file a client names.
     */
    private void detect(Exchange ex) {
        JsonNode body = readJson(ex);
        JsonNode model = body.get("model");
        JsonNode text = body.get("text");
        if (model == null || !model.isTextual()) {
            throw ApiError.invalid("model", "'model' must name the pipeline whose watermark to check");
        }
        JsonNode image = body.get("image_b64");
        if (image != null && !image.isNull()) {
            if (text != null && !text.isNull()) {
                throw ApiError.invalid("image_b64", "give either 'text' or 'image_b64', not both");
            }
            if (!image.isTextual()) {
                throw ApiError.invalid("image_b64", "'image_b64' must be a PNG's bytes in base64, as a string");
            }
        } else if (text == null || !text.isTextual()) {
            throw ApiError.invalid("text", "'text' must be the text to check, as a string (or 'image_b64': a PNG"
                    + " in base64)");
        }
        byte[] png = image == null || image.isNull() ? null : base64(image.asText());
        java.util.Map<String, Object> options = new java.util.LinkedHashMap<>();
        JsonNode keyId = body.get("key_id");
        if (keyId != null && !keyId.isNull()) {
            if (!keyId.isTextual()) {
                throw ApiError.invalid("key_id", "'key_id' must be a string");
            }
            options.put("key_id", keyId.asText());
        }
        if (pipelines.status(model.asText()).isEmpty()) {
            throw ApiError.notFound("unknown pipeline '" + model.asText() + "'; ready pipelines: " + readyNames());
        }
        ex.pipeline = model.asText();
        // tokenizes the text: on a worker, under the request's deadline and cancellation like a completion
        long timeoutMillis = settings.requestTimeoutMillis();
        ClientDeparture departure = ClientDeparture.watch(ex.request);
        ex.departure = departure;
        dev.arbor.api.postprocess.PostProcessor.Output output;
        try {
            output = workers.call(ex.requestId, () -> png == null ? pipelines.analyze(model.asText(), text.asText(),
                    dev.arbor.api.Options.of(options)) : pipelines.analyzeImage(model.asText(), png,
                    dev.arbor.api.Options.of(options)), ex.start + timeoutMillis * 1_000_000L, grace(timeoutMillis),
                    timeoutMillis, departure);
        } finally {
            departure.close();
        }
        com.fasterxml.jackson.databind.node.ObjectNode root = OpenAiResponses.MAPPER.createObjectNode();
        root.put("object", "arbor.watermark.detection");
        root.put("model", model.asText());
        root.put("tokens", output.tokens().length);
        root.set("reports", OpenAiResponses.MAPPER.valueToTree(output.annotations()));
        json(ex, 200, root);
    }

    /**
     * The bytes of a standard base64 string (line breaks and a {@code data:image/png;base64,} prefix allowed); 400
     * otherwise.
     */
    static byte[] base64(String value) {
        String b64 = value.strip();
        if (b64.startsWith("data:")) {
            int comma = b64.indexOf(',');
            if (comma < 0 || !b64.substring(0, comma).endsWith(";base64")) {
                throw ApiError.invalid("image_b64", "'image_b64' is a data URL without ';base64,': send the PNG's"
                        + " bytes in base64");
            }
            b64 = b64.substring(comma + 1);
        }
        try {
            // line breaks (MIME-style wrapping) are allowed; any other character outside the alphabet is refused
            return java.util.Base64.getDecoder().decode(b64.replaceAll("[\\r\\n]", ""));
        } catch (IllegalArgumentException e) {
            throw ApiError.invalid("image_b64", "'image_b64' is not base64: " + e.getMessage());
        }
    }

    // ------------------------------------------------------------------------------------------------- completions

    private void complete(Exchange ex, boolean chat) {
        JsonNode body = readJson(ex);
        OpenAiRequest parsed = OpenAiRequest.parse(body, chat);
        // the conversation as the pipeline's chat template sees it; rendered in the worker (see ChatRendering)
        List<dev.arbor.api.pipeline.ChatMessage> messages = chat ? ChatPrompt.messages(body.get("messages")) : null;
        PipelineStatus status = pipelines.status(parsed.model()).orElseThrow(() -> ApiError.notFound(
                "unknown pipeline '" + parsed.model() + "' (the 'model' field names a pipeline); ready pipelines: "
                        + readyNames()));
        ex.pipeline = parsed.model();
        int maxTokens = maxTokens(parsed, status);
        OpenAiRequest req = ResponseFormat.apply(parsed, status, maxTokens, settings.maxConstraintBytes());
        promptLimits.checkBytes(req); // before anything tokenizes it; the token count is checked in the worker
        long timeoutMillis = settings.requestTimeoutMillis();
        long deadline = ex.start + timeoutMillis * 1_000_000L;
        // generators that honour timeout_ms stop on their own just before the hard cut-off, so they are not
        // abandoned: the grace is the time they get to return their partial result
        long grace = grace(timeoutMillis);
        Meta meta = new Meta((chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", ""),
                System.currentTimeMillis() / 1000, req.model(), chat);
        if (req.stream()) {
            ClientDeparture departure = ClientDeparture.watch(ex.request);
            ex.departure = departure;
            ex.stream = openStream(ex);
            try {
                workers.call(ex.requestId, () -> {
                    ChatRendering rendered = ChatRendering.of(req, messages, pipelines, promptLimits);
                    stream(ex, req, meta, maxTokens, deadline, rendered);
                    return null;
                }, deadline, grace, timeoutMillis, departure);
            } finally {
                departure.close();
            }
            endStream(ex, departure);
        } else {
            List<Completion> done = new ArrayList<>();
            List<Choice> choices;
            ClientDeparture departure = ClientDeparture.watch(ex.request);
            ex.departure = departure;
            try {
                choices = workers.call(ex.requestId, () -> {
                    ChatRendering rendered = ChatRendering.of(req, messages, pipelines, promptLimits);
                    return completeAll(req, maxTokens, deadline, done, rendered);
                }, deadline, grace, timeoutMillis, departure);
            } finally {
                departure.close();
            }
            closeIfPipelined(ex);
            Completion first = done.get(0);
            StrategyUsage strategy = new StrategyUsage();
            done.forEach(strategy::add);
            metrics.strategy(req.model(), strategy);
            json(ex, 200, OpenAiResponses.response(meta, choices, req.logprobs(), req.topLogprobs(),
                    first.promptTokens().length, strategy));
        }
    }

    /** Opens an SSE answer on {@code ex}: its headers go out with the first event. */
    private static SseStream openStream(Exchange ex) {
        return new SseStream(() -> {
            ex.response.setStatus(200);
            ex.response.getHeaders().put(HttpHeader.CONTENT_TYPE, SseStream.CONTENT_TYPE);
            ex.response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
            closeIfPipelined(ex);
            return Content.Sink.asOutputStream(ex.response);
        });
    }

    /** Completes the exchange of a stream that its worker ended (finished, failed in-stream, or cut off). */
    private static void endStream(Exchange ex, ClientDeparture departure) {
        IOException broken = ex.stream.broken();
        if (broken != null) {
            ex.status = 499; // the client went away; nothing left to answer
            ex.callback.failed(broken);
        } else if (departure.pipelined()
                && !"close".equals(ex.response.getHeaders().get(HttpHeader.CONNECTION))) {
            // a byte of a pipelined request was consumed after the headers went out: drop the connection rather
            // than let Jetty misread that request
            ex.callback.failed(new org.eclipse.jetty.io.EofException("pipelined request during a stream"));
        } else {
            ex.callback.succeeded();
        }
    }

    /** Nanoseconds a generator honouring timeout_ms gets past the deadline to return its partial result. */
    private static long grace(long timeoutMillis) {
        return Math.min(1_000, Math.max(50, timeoutMillis / 20)) * 1_000_000L;
    }

    /** The request's {@code max_tokens} checked against the server's limit; absent: the pipeline's default, capped. */
    private int maxTokens(OpenAiRequest req, PipelineStatus status) {
        String field = req.chat() ? "max_completion_tokens" : "max_tokens";
        if (req.maxTokens() != null) {
            if (req.maxTokens() > settings.maxTokens()) {
                throw ApiError.invalid(field, "'" + field + "' is " + req.maxTokens() + ", more than this server's"
                        + " limit of " + settings.maxTokens() + " (max_tokens)");
            }
            return req.maxTokens();
        }
        int fallback = 256;
        if (status.definition() != null) {
            try {
                fallback = status.definition().defaults().integer("max_tokens", fallback, 0, Integer.MAX_VALUE);
            } catch (ArborException e) {
                // a malformed default is the pipeline file's problem; the platform reports it when it runs
            }
        }
        return Math.min(fallback, settings.maxTokens());
    }

    private Map<String, Object> runOptions(int maxTokens, long deadline) {
        return Map.of("max_tokens", maxTokens,
                "timeout_ms", Math.max(1, (deadline - System.nanoTime()) / 1_000_000L));
    }

    /** Records each token's text and log-probability as the platform streams them. */
    private static final class Recorder implements TextSink {
        final List<TokenLogprob> tokens = new ArrayList<>();
        private final TextSink next;

        Recorder(TextSink next) {
            this.next = next;
        }

        @Override
        public boolean onText(String delta, int token) {
            return onText(delta, token, Double.NaN);
        }

        @Override
        public boolean onToken(String delta, dev.arbor.api.pipeline.ScoredToken chosen,
                               List<dev.arbor.api.pipeline.ScoredToken> alternatives) {
            tokens.add(TokenLogprob.of(chosen, alternatives)); // the token's own text and bytes, not the delta
            return next.onToken(delta, chosen, alternatives);
        }

        @Override
        public boolean onText(String delta, int token, double logProbability) {
            if (token >= 0) {
                tokens.add(new TokenLogprob(token, delta, logProbability));
            } else if (!tokens.isEmpty() && !delta.isEmpty() && tokens.get(tokens.size() - 1).bytes() == null) {
                // held-back text flushed at the end belongs to the last token
                TokenLogprob last = tokens.remove(tokens.size() - 1);
                tokens.add(new TokenLogprob(last.token(), last.text() + delta, last.logprob()));
            }
            return next.onText(delta, token, logProbability);
        }
    }

    private List<Choice> completeAll(OpenAiRequest req, int maxTokens, long deadline, List<Completion> done,
                                     ChatRendering rendered) {
        List<Choice> choices = new ArrayList<>();
        for (int i = 0; i < req.n(); i++) {
            Recorder recorder = new Recorder(TextSink.DISCARD);
            Completion c = pipelines.complete(rendered.request(req, i, runOptions(maxTokens, deadline)), recorder);
            checkNotCancelled(c);
            done.add(c);
            metrics.generated(req.model(), c.tokens().length, c.timeToFirstTokenNanos());
            choices.add(new Choice(i, c.text(), logprobs(recorder.tokens, c), c.finishReason().wireName()));
        }
        return choices;
    }

    /** The platform's per-token log-probabilities with the recorded token texts (when they line up). */
    private static List<TokenLogprob> logprobs(List<TokenLogprob> recorded, Completion c) {
        int[] ids = c.tokens();
        double[] values = c.logProbs();
        List<TokenLogprob> out = new ArrayList<>(ids.length);
        for (int i = 0; i < ids.length; i++) {
            boolean lined = i < recorded.size() && recorded.get(i).token() == ids[i];
            String text = lined ? recorded.get(i).text() : "";
            double value = values != null && i < values.length ? values[i]
                    : i < recorded.size() ? recorded.get(i).logprob() : Double.NaN;
            out.add(new TokenLogprob(ids[i], text, value, lined ? recorded.get(i).bytes() : null,
                    lined ? recorded.get(i).top() : null));
        }
        return out;
    }

    private static void checkNotCancelled(Completion c) {
        if (c.finishReason() == FinishReason.CANCELLED) {
            // the generator honoured timeout_ms: the deadline passed, answer as the hard cut-off would
            throw new ArborException(ArborException.Kind.CANCELLED, "the request ran past its deadline and its"
                    + " generator stopped after " + c.tokens().length + " tokens (request_timeout_ms)");
        }
    }

    private void stream(Exchange ex, OpenAiRequest req, Meta meta, int maxTokens, long deadline,
                        ChatRendering rendered) throws IOException {
        SseStream stream = ex.stream;
        int promptTokens = 0;
        int completionTokens = 0;
        StrategyUsage strategy = new StrategyUsage();
        for (int i = 0; i < req.n(); i++) {
            int index = i;
            boolean[] first = {true};
            int[] offset = {0};
            TextSink sink = new TextSink() {
                @Override
                public boolean onText(String delta, int token) {
                    return onText(delta, token, Double.NaN);
                }

                @Override
                public boolean onToken(String delta, dev.arbor.api.pipeline.ScoredToken chosen,
                                       List<dev.arbor.api.pipeline.ScoredToken> alternatives) {
                    return send(delta, List.of(TokenLogprob.of(chosen, alternatives)));
                }

                @Override
                public boolean onText(String delta, int token, double logProbability) {
                    return send(delta, req.logprobs() && token >= 0
                            ? List.of(new TokenLogprob(token, delta, logProbability)) : null);
                }

                private boolean send(String delta, List<TokenLogprob> lp) {
                    if (delta.isEmpty() && lp == null) {
                        return true; // text held back (partial character or possible stop string): nothing to say
                    }
                    boolean sent = stream.send(OpenAiResponses.chunk(meta, index, delta, first[0], lp,
                            req.topLogprobs(), offset[0], null, req.includeUsage()));
                    first[0] = false;
                    offset[0] += delta.length();
                    return sent; // false stops generation: cut off at the deadline, or the client left
                }

                @Override
                public void onCanvas(String text, int step) {
                    // asked for with "arbor": {"stream_canvas": true}: a chunk with an empty delta and the whole
                    // canvas so far (masks as placeholders), so a client can watch a diffusion text resolve
                    ObjectNode chunk = OpenAiResponses.chunk(meta, index, meta.chat() ? null : "", first[0], null, 0,
                            offset[0], null, req.includeUsage());
                    ObjectNode choice = (ObjectNode) chunk.get("choices").get(0);
                    choice.put("arbor_canvas", text);
                    choice.put("arbor_step", step);
                    stream.send(chunk);
                    first[0] = false;
                }
            };
            Completion c = pipelines.complete(rendered.request(req, i, runOptions(maxTokens, deadline)), sink);
            if (stream.broken() != null) {
                return;
            }
            checkNotCancelled(c);
            metrics.generated(req.model(), c.tokens().length, c.timeToFirstTokenNanos());
            promptTokens = c.promptTokens().length;
            completionTokens += c.tokens().length;
            strategy.add(c);
            if (!stream.send(OpenAiResponses.chunk(meta, index, meta.chat() ? null : "", first[0], null, 0,
                    offset[0], c.finishReason().wireName(), req.includeUsage()))) {
                return;
            }
        }
        metrics.strategy(req.model(), strategy);
        if (req.includeUsage() && !stream.send(OpenAiResponses.usageChunk(meta, promptTokens, completionTokens,
                strategy))) {
            return;
        }
        // stop watching the connection before the stream's last bytes go out: once a client has them it may send its
        // next request on this connection, which the watch must not consume
        ex.departure.close();
        stream.finish();
    }

    // -------------------------------------------------------------------------------------------- prognostics

    /**
     * {@code POST /v1/prognostics/assess} ({@link PrognosticsRoute}): state posteriors, Viterbi path and remaining
     * useful life of a health-indicator series under a declared prognostic model, on a worker under the request's
     * deadline; the Monte-Carlo parts stop when the deadline passes or the client leaves.
     */
    private void assessPrognostics(Exchange ex) {
        long timeoutMillis = settings.requestTimeoutMillis();
        long deadline = ex.start + timeoutMillis * 1_000_000L;
        dev.arbor.api.prognostics.AssessRequest req = PrognosticsRoute.parse(readJson(ex), () ->
                Thread.currentThread().isInterrupted() || System.nanoTime() - deadline > 0);
        dev.arbor.api.prognostics.Prognostics service = prognostics.get();
        if (service == null) {
            throw new ApiError(503, "service_unavailable_error", "model", "prognostics_unavailable", "no prognostics"
                    + " service runs in this installation (bundle dev.arbor.prognostics.arphmm)");
        }
        ClientDeparture departure = ClientDeparture.watch(ex.request);
        ex.departure = departure;
        ObjectNode body;
        try {
            body = workers.call(ex.requestId, () -> PrognosticsRoute.response(service.assess(req)), deadline,
                    grace(timeoutMillis), timeoutMillis, departure);
        } finally {
            departure.close();
        }
        closeIfPipelined(ex);
        json(ex, 200, body);
    }

    // ------------------------------------------------------------------------------------------------- images

    /**
     * {@code POST /v1/images/generations} (OpenAI's images API): {@code n} images of the class the prompt names,
     * from an image pipeline, as base64 PNG. With {@code stream}, OpenAI's image events: an
     * {@code image_generation.partial_image} for each canvas the generator sends (the platform decodes it; at most
     * {@code partial_images} of them when given), then an {@code image_generation.completed} per image. Deadline,
     * cancellation and metrics as for completions.
     */
    private void images(Exchange ex) {
        ImagesRequest req = ImagesRequest.parse(readJson(ex), settings.maxImages());
        pipelines.status(req.model()).orElseThrow(() -> ApiError.notFound("unknown pipeline '" + req.model()
                + "' (the 'model' field names an image pipeline); ready pipelines: " + readyNames()));
        ex.pipeline = req.model();
        long timeoutMillis = settings.requestTimeoutMillis();
        long deadline = ex.start + timeoutMillis * 1_000_000L;
        long grace = grace(timeoutMillis);
        long createdAt = System.currentTimeMillis() / 1000;
        ClientDeparture departure = ClientDeparture.watch(ex.request);
        ex.departure = departure;
        if (req.stream()) {
            ex.stream = openStream(ex);
            try {
                workers.call(ex.requestId, () -> {
                    streamImages(ex, req, createdAt, deadline);
                    return null;
                }, deadline, grace, timeoutMillis, departure);
            } finally {
                departure.close();
            }
            endStream(ex, departure);
        } else {
            ObjectNode body;
            try {
                body = workers.call(ex.requestId, () -> generateImages(req, createdAt, deadline), deadline, grace,
                        timeoutMillis, departure);
            } finally {
                departure.close();
            }
            closeIfPipelined(ex);
            json(ex, 200, body);
        }
    }

    /** What an images request draws, resolved on the worker: opening the pipeline's tokenizer may take a while. */
    private record ImageJob(ImageLayout layout, String className) {
        String size() {
            return layout.width() + "x" + layout.height();
        }
    }

    private ImageJob imageJob(ImagesRequest req) {
        ImageLayout layout = pipelines.imageLayout(req.model()).orElseThrow(() -> ApiError.invalid("model",
                "pipeline '" + req.model() + "' generates text, not images (its tokenizer is not an image"
                        + " tokenizer): use /v1/completions or /v1/chat/completions for it, or name an image"
                        + " pipeline"));
        req.checkSize(layout);
        if (layout.tokensPerImage() > settings.maxTokens()) {
            throw ApiError.invalid("model", "an image of pipeline '" + req.model() + "' takes "
                    + layout.tokensPerImage() + " tokens, more than this server's limit of " + settings.maxTokens()
                    + " (max_tokens)");
        }
        return new ImageJob(layout, layout.classNames().get(req.classIndex(layout)));
    }

    /** One image's run options: exactly one image's tokens, the deadline, and canvases when streaming. */
    private Map<String, Object> imageOptions(ImageJob job, long deadline, boolean canvases) {
        Map<String, Object> options = new java.util.LinkedHashMap<>(runOptions(job.layout().tokensPerImage(),
                deadline));
        if (canvases) {
            options.put("stream_canvas", true);
        }
        return options;
    }

    /** The PNG of a finished image, or a failure naming why there is none. */
    private static byte[] png(ImagesRequest req, ImageJob job, Completion c) {
        checkNotCancelled(c);
        if (!(c.stats().get("image") instanceof byte[] png)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "pipeline '" + req.model() + "' returned no"
                    + " image: its \"postprocessors\" need \"image-png\"");
        }
        if (Boolean.FALSE.equals(c.stats().get("image_complete"))) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "generator '" + c.stats().get("generator")
                    + "' of pipeline '" + req.model() + "' stopped after " + c.tokens().length + " of "
                    + job.layout().tokensPerImage() + " image tokens (finish reason "
                    + c.finishReason().wireName() + ")");
        }
        return png;
    }

    private ObjectNode generateImages(ImagesRequest req, long createdAt, long deadline) {
        ImageJob job = imageJob(req);
        StrategyUsage strategy = new StrategyUsage();
        ObjectNode root = OpenAiResponses.MAPPER.createObjectNode();
        root.put("created", createdAt);
        com.fasterxml.jackson.databind.node.ArrayNode data = root.putArray("data");
        int input = 0;
        int output = 0;
        for (int i = 0; i < req.n(); i++) {
            Completion c = pipelines.complete(req.toCompletionRequest(i, job.className(),
                    imageOptions(job, deadline, false)), TextSink.DISCARD);
            byte[] png = png(req, job, c);
            metrics.generated(req.model(), c.tokens().length, c.timeToFirstTokenNanos());
            strategy.add(c);
            input += c.promptTokens().length;
            output += c.tokens().length;
            ObjectNode image = data.addObject();
            image.put("b64_json", java.util.Base64.getEncoder().encodeToString(png));
            image.put("revised_prompt", job.className());
        }
        metrics.strategy(req.model(), strategy);
        root.put("background", "opaque");
        root.put("output_format", "png");
        root.put("size", job.size());
        ObjectNode usage = imageUsage(root, input, output);
        strategy.writeTo(usage);
        return root;
    }

    private void streamImages(Exchange ex, ImagesRequest req, long createdAt, long deadline) throws IOException {
        ImageJob job = imageJob(req);
        SseStream stream = ex.stream;
        StrategyUsage strategy = new StrategyUsage();
        for (int i = 0; i < req.n(); i++) {
            int index = i;
            int[] partials = {0};
            TextSink sink = new TextSink() {
                @Override
                public boolean onText(String delta, int token) {
                    return stream.open(); // false stops generation: cut off at the deadline, or the client left
                }

                @Override
                public void onImageCanvas(float[][] pixels, int step) {
                    if (req.partialImages() >= 0 && partials[0] >= req.partialImages()) {
                        return; // the client asked for fewer (partial_images)
                    }
                    ObjectNode event = imageEvent("image_generation.partial_image", createdAt, job,
                            dev.arbor.api.image.Png.encode(pixels));
                    event.put("partial_image_index", partials[0]++);
                    event.put("arbor_image_index", index);
                    event.put("arbor_step", step);
                    stream.send("image_generation.partial_image", event);
                }
            };
            Completion c = pipelines.complete(req.toCompletionRequest(i, job.className(),
                    imageOptions(job, deadline, req.partialImages() != 0)), sink);
            if (stream.broken() != null) {
                return;
            }
            byte[] png = png(req, job, c);
            metrics.generated(req.model(), c.tokens().length, c.timeToFirstTokenNanos());
            strategy.add(c);
            ObjectNode done = imageEvent("image_generation.completed", createdAt, job, png);
            done.put("revised_prompt", job.className());
            done.put("arbor_image_index", index);
            imageUsage(done, c.promptTokens().length, c.tokens().length);
            if (!stream.send("image_generation.completed", done)) {
                return;
            }
        }
        metrics.strategy(req.model(), strategy);
        // as for completions: stop watching the connection before the last bytes go out
        ex.departure.close();
        stream.finish();
    }

    /** The fields OpenAI's image stream events carry. */
    private static ObjectNode imageEvent(String type, long createdAt, ImageJob job, byte[] png) {
        ObjectNode event = OpenAiResponses.MAPPER.createObjectNode();
        event.put("type", type);
        event.put("b64_json", java.util.Base64.getEncoder().encodeToString(png));
        event.put("created_at", createdAt);
        event.put("size", job.size());
        event.put("quality", "auto");
        event.put("background", "opaque");
        event.put("output_format", "png");
        return event;
    }

    /** OpenAI's image usage: the class tokens in, the image tokens out. */
    private static ObjectNode imageUsage(ObjectNode parent, int input, int output) {
        ObjectNode usage = parent.putObject("usage");
        usage.put("input_tokens", input);
        usage.put("output_tokens", output);
        usage.put("total_tokens", input + output);
        usage.putObject("input_tokens_details").put("text_tokens", input).put("image_tokens", 0);
        return usage;
    }

    // ------------------------------------------------------------------------------------------------- plumbing

    private String readyNames() {
        List<String> ready = pipelines.pipelines().stream().filter(PipelineStatus::ready).map(PipelineStatus::name)
                .toList();
        return ready.isEmpty() ? "none" : String.join(", ", ready);
    }

    /** The body, read before routing, as JSON: 400 when it is not JSON or breaks the reader's limits. */
    private JsonNode readJson(Exchange ex) {
        if (ex.body == null || ex.body.length == 0) {
            throw ApiError.invalid(null, "the request body is empty; send a JSON object");
        }
        return json.parse(ex.body);
    }

    private void json(Exchange ex, int status, JsonNode body) {
        ex.status = status;
        ex.response.setStatus(status);
        ex.response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        ex.response.write(true, ByteBuffer.wrap(body.toString().getBytes(StandardCharsets.UTF_8)), ex.callback);
    }

    /** A byte of a pipelined next request was consumed watching for departure: close after this answer. */
    private static void closeIfPipelined(Exchange ex) {
        if (ex.departure != null && ex.departure.pipelined()) {
            ex.response.getHeaders().put(HttpHeader.CONNECTION, "close");
        }
    }

    private void fail(Exchange ex, ApiError e) {
        if (e.status >= 500 && e.getCause() != null) {
            // a plugin or model failed: once per failure, with the request id and the stack trace of the cause
            LOG.log(System.Logger.Level.WARNING, "[" + ex.requestId + "] " + e.status + " " + e.getMessage(),
                    e.getCause());
        } else {
            LOG.log(e.status >= 500 ? System.Logger.Level.WARNING : System.Logger.Level.INFO,
                    () -> "[" + ex.requestId + "] " + e.status + " " + e.getMessage());
        }
        if (e.status == 499) {
            ex.status = 499; // the client left: nobody to answer, the connection is dropped (quietly: EofException)
            ex.callback.failed(new org.eclipse.jetty.io.EofException(e.getMessage()));
            return;
        }
        if (ex.stream != null && ex.stream.fail(OpenAiResponses.error(e))) {
            ex.status = e.status;
            ex.callback.succeeded();
            return;
        }
        if (ex.response.isCommitted()) {
            ex.status = e.status;
            ex.callback.failed(e);
            return;
        }
        if (e.status == 401) {
            ex.response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
        }
        if (e.retryAfterSeconds > 0) {
            ex.response.getHeaders().put(HttpHeader.RETRY_AFTER, Integer.toString(e.retryAfterSeconds));
        }
        closeIfPipelined(ex);
        if (!ex.admitted || e.status == 413 || (!ex.bodyRead && !"GET".equals(ex.request.getMethod()))) {
            // refused before its body was read (401, 404, 405), with the body cut off (413, 408, 400) or because the
            // server is stopping: the unread bytes make the connection unusable for another request, so say so
            // rather than let a client reuse it and find it closed
            ex.response.getHeaders().put(HttpHeader.CONNECTION, "close");
        }
        // the Open Inference Protocol's routes answer its error shape, {"error": "<message>"}
        json(ex, e.status, oip != null && OipRoutes.handles(ex.request.getHttpURI().getPath())
                ? OipJson.error(e.getMessage()) : OpenAiResponses.error(e));
    }
}
