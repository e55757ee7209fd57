package dev.arbor.platform.admin.internal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.ArborException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The admin REST endpoint under {@code /admin} (authentication is done by {@link AdminContext}):
 * {@code GET /admin/bundles} (the bundles, an "installed" one with the {@code reason} it does not resolve, then the
 * files deploy/ refused, with state "refused", {@code file} and {@code reason}), {@code GET /admin/pipelines},
 * {@code GET /admin/pipelines/{name}}, {@code GET /admin/version} (Arbor's version and every package the API bundle
 * exports, {@code {"arbor": "0.1.0.SNAPSHOT", "api": [{"name", "version", "bundle"}, ...]}}) and
 * {@code PUT /admin/pipelines/{name}/strategy} with {@code {"generator": "beam-search", "options": {...}}}: saved in
 * the pipeline's file in {@code etc/pipelines} (the answer's {@code "persisted": true, "file"}), or with
 * {@code ?persist=false}, or for a pipeline without a file, in force until restart ({@code "persisted": false} and a
 * {@code "note"} saying so).
 */
final class AdminRestServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private static final System.Logger LOG = System.getLogger("dev.arbor.admin");
    /** Operator changes are shown at the launcher's default log level (see the launcher's Main). */
    private static final System.Logger AUDIT = System.getLogger("dev.arbor.audit");
    private static final Pattern PIPELINE = Pattern.compile("/pipelines/([^/]+)");
    private static final Pattern STRATEGY = Pattern.compile("/pipelines/([^/]+)/strategy");
    private static final int MAX_BODY = 64 * 1024;
    private static final String EXAMPLE = "{\"generator\": \"beam-search\", \"options\": {\"num_beams\": 4}}";

    private final transient Operations operations;
    private final transient ObjectMapper json = new ObjectMapper();

    AdminRestServlet(Operations operations) {
        this.operations = operations;
    }

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
        String path = path(request);
        Matcher one = PIPELINE.matcher(path);
        if (path.equals("/bundles")) {
            // one array, as before: the bundles by id, then the refused files of deploy/ (state "refused")
            List<Object> rows = new java.util.ArrayList<>(operations.bundles());
            rows.addAll(operations.refused());
            send(response, 200, rows);
        } else if (path.equals("/version")) {
            send(response, 200, operations.version());
        } else if (path.equals("/models")) {
            send(response, 200, operations.models());
        } else if (path.equals("/pipelines")) {
            send(response, 200, operations.pipelines().stream().map(Operations::describe).toList());
        } else if (one.matches()) {
            String name = one.group(1);
            operations.pipelines().stream().filter(s -> s.name().equals(name)).findFirst().ifPresentOrElse(
                    s -> send(response, 200, Operations.describe(s)),
                    () -> error(response, 404, "unknown pipeline '" + name + "'"));
        } else {
            error(response, 404, "no such admin resource: GET " + request.getRequestURI()
                    + "; try /admin/bundles, /admin/models, /admin/pipelines or /admin/version");
        }
    }

    @Override
    protected void doPut(HttpServletRequest request, HttpServletResponse response) throws IOException {
        Matcher m = STRATEGY.matcher(path(request));
        if (!m.matches()) {
            error(response, 404, "no such admin resource: PUT " + request.getRequestURI()
                    + "; try PUT /admin/pipelines/{name}/strategy");
            return;
        }
        String name = m.group(1);
        JsonNode body;
        try (InputStream in = request.getInputStream()) {
            byte[] bytes = in.readNBytes(MAX_BODY + 1);
            if (bytes.length > MAX_BODY) {
                error(response, 413, "the body is larger than " + MAX_BODY + " bytes");
                return;
            }
            body = json.readTree(bytes);
        } catch (JsonProcessingException e) {
            error(response, 400, "the body is not valid JSON (" + e.getOriginalMessage() + "); send " + EXAMPLE);
            return;
        }
        if (body == null || !body.isObject()) {
            error(response, 400, "the body must be a JSON object such as " + EXAMPLE);
            return;
        }
        JsonNode generator = body.get("generator");
        if (generator == null || !generator.isTextual() || generator.asText().isBlank()) {
            error(response, 400, "'generator' must be the name of a decoding strategy, e.g. " + EXAMPLE);
            return;
        }
        JsonNode options = body.get("options");
        if (options != null && !options.isNull() && !options.isObject()) {
            error(response, 400, "'options' must be a JSON object of strategy options, e.g. " + EXAMPLE);
            return;
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> optionMap = options == null || options.isNull() ? Map.of()
                : json.convertValue(options, Map.class);
        String persist = request.getParameter("persist");
        if (persist != null && !persist.equals("true") && !persist.equals("false")) {
            error(response, 400, "'persist' must be true (the default: the pipeline file keeps the change) or false"
                    + " (the change lasts until the runtime restarts)");
            return;
        }
        try {
            var change = operations.switchStrategy(name, generator.asText(), optionMap, !"false".equals(persist));
            AUDIT.log(System.Logger.Level.INFO, "admin " + request.getRemoteUser() + " switched pipeline '" + name
                    + "' to generator '" + generator.asText() + "' " + optionMap + (change.persisted()
                    ? "; saved in " + change.file() : "; " + change.note()));
            Map<String, Object> answer = new java.util.LinkedHashMap<>(Operations.describe(change.status()));
            answer.put("persisted", change.persisted());
            if (change.persisted()) {
                answer.put("file", change.file().toString());
            } else {
                answer.put("note", change.note());
            }
            send(response, 200, answer);
        } catch (Operations.NotFound e) {
            error(response, 404, e.getMessage());
        } catch (IllegalArgumentException | ArborException e) {
            error(response, 400, e.getMessage());
        } catch (java.io.UncheckedIOException e) {
            LOG.log(System.Logger.Level.ERROR, e.getMessage());
            error(response, 500, e.getMessage());
        }
    }

    /** The path below {@code /admin}, without a trailing slash. */
    private static String path(HttpServletRequest request) {
        String path = request.getPathInfo() == null ? "" : request.getPathInfo();
        return path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    }

    private void send(HttpServletResponse response, int status, Object body) {
        try {
            response.setStatus(status);
            response.setContentType("application/json");
            response.setCharacterEncoding("UTF-8");
            json.writerWithDefaultPrettyPrinter().writeValue(response.getOutputStream(), body);
        } catch (IOException e) {
            // the client went away: nothing to answer
        }
    }

    private void error(HttpServletResponse response, int status, String message) {
        send(response, status, Map.of("error", Map.of("status", status, "message", message)));
    }

    /** The routes, for the admin server's startup log line. */
    static List<String> routes() {
        return List.of("GET /admin/bundles", "GET /admin/models", "GET /admin/pipelines", "GET /admin/pipelines/{name}",
                "PUT /admin/pipelines/{name}/strategy", "GET /admin/version");
    }
}
