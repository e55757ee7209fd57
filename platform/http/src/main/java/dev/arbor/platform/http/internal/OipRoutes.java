package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.ArborException;
import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferenceException;
import dev.arbor.platform.oip.InferenceModel;
import dev.arbor.platform.oip.server.PipelineModel;
import dev.arbor.platform.oip.server.ServedModels;
import dev.arbor.platform.oip.server.ServingState;
import dev.arbor.platform.oip.server.TensorChecks;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Open Inference Protocol's REST routes (KServe v2) beside the OpenAI ones, on the same server with the same
 * API key, limits, workers and deadline: {@code GET /v2/health/live} (200 while the framework runs), {@code GET
 * /v2/health/ready} (200 while no drain has begun and at least one model is ready; 400, the protocol's "false",
 * otherwise), {@code GET /v2} (server metadata), {@code GET /v2/models/{name}} (model metadata), {@code GET
 * /v2/models/{name}/ready} (200 or 400), {@code POST /v2/models/{name}/infer}. A {@code /versions/{v}} segment after
 * the name is accepted and must name the model's version. The two health routes need no API key (probes cannot hold
 * one; they tell a boolean) and are answered even while the server drains; every other route is authenticated and
 * refused (503) once the drain delay has passed. Errors are the protocol's {@code {"error": "..."}}.
 */
final class OipRoutes {
    static final String LIVE = "/v2/health/live";
    static final String READY = "/v2/health/ready";
    private static final Pattern MODEL = Pattern.compile(
            "/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/infer)?");

    private final ServedModels models;
    private final ServingState state;
    private final String version;

    OipRoutes(ServedModels models, ServingState state, String version) {
        this.models = models;
        this.state = state;
        this.version = version;
    }

    /** A parsed {@code /v2/models/...} path: the model's name, the version asked for (or null) and the action. */
    record ModelPath(String name, String version, String action) {
        /** The metrics endpoint name of this route: fixed strings, never the model's name. */
        String endpoint() {
            return switch (action) {
                case "/infer" -> "oip.infer";
                case "/ready" -> "oip.model.ready";
                default -> "oip.model.metadata";
            };
        }
    }

    static boolean isHealth(String method, String path) {
        return "GET".equals(method) && (LIVE.equals(path) || READY.equals(path));
    }

    static boolean handles(String path) {
        return path.equals("/v2") || path.startsWith("/v2/");
    }

    /** The model path of {@code path}, or null when it is none (a 404 then). */
    static ModelPath modelPath(String path) {
        Matcher m = MODEL.matcher(path);
        if (!m.matches()) {
            return null;
        }
        return new ModelPath(java.net.URLDecoder.decode(m.group(1), java.nio.charset.StandardCharsets.UTF_8),
                m.group(2), m.group(3) == null ? "" : m.group(3));
    }

    /** Whether a POST to {@code path} carries a body to read (inference). */
    static boolean isInfer(String path) {
        ModelPath p = modelPath(path);
        return p != null && p.action().equals("/infer");
    }

    /** The health routes' answer: status 200 or 400 and {@code {"live"|"ready": bool}}. */
    Answer health(String path) {
        ObjectNode body = OpenAiResponses.MAPPER.createObjectNode();
        if (LIVE.equals(path)) {
            body.put("live", true); // answering at all means the framework and the server are up
            return new Answer(200, body);
        }
        boolean ready = models.ready(state);
        body.put("ready", ready);
        if (!ready) {
            body.put("reason", !state.ready() ? "the server is draining (it is stopping)" : "no model is ready");
        }
        return new Answer(ready ? 200 : 400, body);
    }

    record Answer(int status, JsonNode body) {
    }

    Answer serverMetadata() {
        ObjectNode body = OpenAiResponses.MAPPER.createObjectNode();
        body.put("name", "arbor");
        body.put("version", version);
        body.putArray("extensions");
        return new Answer(200, body);
    }

    Answer metadata(ModelPath p) {
        return new Answer(200, OipJson.metadata(model(p)));
    }

    Answer modelReady(ModelPath p) {
        InferenceModel m = model(p);
        ObjectNode body = OpenAiResponses.MAPPER.createObjectNode();
        body.put("name", m.name());
        body.put("ready", m.ready());
        return new Answer(m.ready() ? 200 : 400, body);
    }

    /** The model a path names; 404 naming the ready models, or the version served. */
    InferenceModel model(ModelPath p) {
        InferenceModel m = models.find(p.name()).orElseThrow(() -> ApiError.notFound("unknown model '" + p.name()
                + "'; ready models: " + models.readyNames()));
        if (p.version() != null && !p.version().equals(m.version())) {
            throw ApiError.notFound("model '" + p.name() + "' has no version '" + p.version() + "'"
                    + (m.version().isEmpty() ? " (it is unversioned: leave the version out)"
                    : "; it serves version '" + m.version() + "'"));
        }
        return m;
    }

    /** Reads and checks an inference request for {@code model} (on the HTTP thread: no model code runs). */
    static InferRequest read(InferenceModel model, JsonNode body, long deadlineMillis, long maxElements) {
        try {
            InferRequest req = OipJson.request(body, deadlineMillis, maxElements);
            TensorChecks.against(model, req);
            return req;
        } catch (InferenceException e) {
            throw error(e);
        }
    }

    /** Runs the inference (in a worker): the model's failures as their HTTP status. */
    static JsonNode infer(InferenceModel model, InferRequest req) {
        try {
            return OipJson.response(model.infer(req));
        } catch (InferenceException e) {
            throw error(e);
        } catch (ArborException e) {
            throw error(PipelineModel.from(e));
        }
    }

    /** {@link InferenceException}'s statuses as HTTP: 400, 404, 503, 504, 500. */
    static ApiError error(InferenceException e) {
        ApiError error = switch (e.status()) {
            case INVALID -> ApiError.invalid(null, e.getMessage());
            case NOT_FOUND -> ApiError.notFound(e.getMessage());
            case UNAVAILABLE -> new ApiError(503, "service_unavailable_error", null, "model_unavailable",
                    e.getMessage(), 1);
            case DEADLINE -> new ApiError(504, "timeout_error", null, "timeout", e.getMessage());
            case INTERNAL -> new ApiError(500, "server_error", null, "model_failure", e.getMessage());
        };
        return e.status() == InferenceException.Status.INTERNAL && e.getCause() != null ? error.causedBy(e.getCause())
                : e.status() == InferenceException.Status.INTERNAL ? error.causedBy(e) : error;
    }
}
