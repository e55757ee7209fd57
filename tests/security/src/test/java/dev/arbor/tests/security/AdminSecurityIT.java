package dev.arbor.tests.security;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The admin server (Web Console and /admin) against a hostile web page and a password guesser, and an operator's
 * strategy change across a restart. Runs on an installation of its own: it rewrites a pipeline file.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AdminSecurityIT extends PrivatelyServed {
    private static final String EVIL = "http://evil.example";
    private final ObjectMapper json = new ObjectMapper();

    @Test
    @Order(1)
    void writesFromAForeignOriginAreRefusedBeforeTheyAct() throws Exception {
        HttpResponse<String> console = WebConsole.install(arbor, "csrf.jar",
                WebConsole.untrustedBundle("dev.arbor.test.csrf"), Map.of("Origin", EVIL));
        assertThat(console.statusCode()).isEqualTo(403);
        assertThat(WebConsole.state(arbor, "dev.arbor.test.csrf")).isNull();

        HttpResponse<String> byReferer = WebConsole.install(arbor, "csrf.jar",
                WebConsole.untrustedBundle("dev.arbor.test.csrf"), Map.of("Referer", EVIL + "/page.html"));
        assertThat(byReferer.statusCode()).isEqualTo(403);

        HttpResponse<String> rest = putStrategy("stories260k", "", "{\"generator\": \"beam-search\"}",
                Map.of("Origin", EVIL));
        assertThat(rest.statusCode()).isEqualTo(403);
        assertThat(pipeline("stories260k").path("generator").asText()).isEqualTo("autoregressive");
        assertThat(arbor.log()).contains("refused a cross-origin POST /system/console/bundles")
                .contains("refused a cross-origin PUT /admin/pipelines/stories260k/strategy");

        // the console's own pages send their own origin: allowed
        HttpResponse<String> same = putStrategy("arbor-tiny", "?persist=false",
                "{\"generator\": \"autoregressive\"}", Map.of("Origin", "http://127.0.0.1:" + arbor.adminPort));
        assertThat(same.statusCode()).as(same.body()).isEqualTo(200);
    }

    @Test
    @Order(2)
    void aStrategyChangeIsSavedInThePipelineFileAndSurvivesARestart() throws Exception {
        HttpResponse<String> saved = putStrategy("stories260k", "",
                "{\"generator\": \"beam-search\", \"options\": {\"num_beams\": 2}}", Map.of());
        assertThat(saved.statusCode()).as(saved.body()).isEqualTo(200);
        JsonNode answer = json.readTree(saved.body());
        Path file = home.resolve("etc/pipelines/stories260k.json");
        assertThat(answer.path("persisted").asBoolean()).isTrue();
        assertThat(answer.path("file").asText()).isEqualTo(file.toString());
        JsonNode written = json.readTree(file.toFile());
        assertThat(written.path("generator").path("name").asText()).isEqualTo("beam-search");
        assertThat(written.path("model").path("path").asText()).as("variables stay as the operator wrote them")
                .startsWith("${arbor.models}");

        HttpResponse<String> temporary = putStrategy("stories260k-djl", "?persist=false",
                "{\"generator\": \"beam-search\"}", Map.of());
        assertThat(temporary.statusCode()).as(temporary.body()).isEqualTo(200);
        JsonNode note = json.readTree(temporary.body());
        assertThat(note.path("persisted").asBoolean(true)).isFalse();
        assertThat(note.path("note").asText()).contains("until the runtime restarts");
        assertThat(json.readTree(home.resolve("etc/pipelines/stories260k-djl.json").toFile()).path("generator")
                .asText()).isEqualTo("autoregressive");

        arbor.close();
        arbor = ServedArbor.startIn(home, Map.of());
        JsonNode after = pipeline("stories260k");
        assertThat(after.path("generator").asText()).isEqualTo("beam-search");
        assertThat(after.path("generator_options").path("num_beams").asInt()).isEqualTo(2);
        assertThat(pipeline("stories260k-djl").path("generator").asText()).isEqualTo("autoregressive");
    }

    @Test
    @Order(3)
    void repeatedWrongPasswordsMakeTheAddressWait() throws Exception {
        String wrong = "Basic " + Base64.getEncoder().encodeToString("admin:guess".getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < 5; i++) {
            HttpResponse<String> r = arbor.http.send(HttpRequest.newBuilder(arbor.admin("/admin/pipelines"))
                    .header("Authorization", wrong).GET().build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as("attempt %d", i + 1).isEqualTo(401);
        }
        // now even the right password waits: a guesser cannot tell a right guess from a wrong one
        HttpResponse<String> blocked = arbor.http.send(arbor.adminRequest("/system/console/bundles").GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(blocked.statusCode()).isEqualTo(429);
        long retryAfter = Long.parseLong(blocked.headers().firstValue("Retry-After").orElseThrow());
        assertThat(retryAfter).isBetween(1L, 10L);
        assertThat(arbor.log()).contains("further attempts from 127.0.0.1 are refused for 10 s");
    }

    private HttpResponse<String> putStrategy(String pipeline, String query, String body, Map<String, String> headers)
            throws Exception {
        HttpRequest.Builder request = arbor.adminRequest("/admin/pipelines/" + pipeline + "/strategy" + query)
                .header("Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString(body));
        headers.forEach(request::header);
        return arbor.http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode pipeline(String name) throws Exception {
        HttpResponse<String> r = arbor.http.send(arbor.adminRequest("/admin/pipelines/" + name).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json.readTree(r.body());
    }
}
