package dev.arbor.tests.security;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A request names the models it may use (drafts, guides) by their name in the installation's registry, never by a
 * file or directory; the answer to a path is the same whether or not the file exists and holds none of its bytes; a
 * broken draft fails its own request only; the admin API refuses a broken model reference when it is set; and
 * distinct option sets share one cached copy of a model.
 */
class ModelReferenceIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Looks like the start of /etc/shadow: if any of it reaches a client, the server echoed file bytes. */
    private static final String SECRET = "root:$6$Zq8Vx1secretsalt$";
    private static ServedArbor arbor;
    private static Path brokenFile;
    private static Path brokenEntry;
    private static String broken;

    @BeforeAll
    static void start() throws Exception {
        arbor = ServedArbor.start();
        // an operator's registry entry whose file is not a model (bytes that decode to absurd dimensions)
        broken = "security-it-broken-" + UUID.randomUUID().toString().substring(0, 8);
        brokenFile = Files.createTempFile("arbor-not-a-model-", ".bin");
        Files.writeString(brokenFile, SECRET + "18250:0:99999:7:::\n".repeat(20));
        brokenEntry = arbor.dist.resolve("etc/models/" + broken + ".json");
        Files.writeString(brokenEntry, "{\"backend\": \"onnxruntime\", \"format\": \"llama2c\", \"path\": \""
                + brokenFile + "\", \"options\": {\"device\": \"cpu\"}}");
    }

    @AfterAll
    static void stop() throws Exception {
        if (brokenEntry != null) {
            Files.deleteIfExists(brokenEntry);
        }
        if (brokenFile != null) {
            Files.deleteIfExists(brokenFile);
        }
        if (arbor != null) {
            arbor.close();
        }
    }

    private static HttpResponse<String> speculative(String pipeline, Object draft, Map<String, Object> more)
            throws Exception {
        Map<String, Object> options = new LinkedHashMap<>(more);
        options.put("draft", draft);
        Map<String, Object> body = Map.of("model", pipeline, "prompt", "Once upon a time", "max_tokens", 4,
                "temperature", 0, "arbor", Map.of("generator", Map.of("name", "speculative", "options", options)));
        return arbor.post("/v1/completions", JSON.writeValueAsString(body));
    }

    private static String message(HttpResponse<String> response) throws Exception {
        return JSON.readTree(response.body()).path("error").path("message").asText();
    }

    @Test
    void aDraftPathIsRefusedAlikeWhetherOrNotTheFileExistsAndNoBytesComeBack() throws Exception {
        Path secret = Files.createTempFile("arbor-secret-", ".txt");
        try {
            Files.writeString(secret, SECRET);
            List<String> paths = List.of("/etc/shadow", secret.toString(), "/nonexistent/x.bin",
                    arbor.dist.resolve("models/arbor-tiny-draft/arbor-tiny-draft.bin").toString(), "/etc");
            List<String> bodies = new ArrayList<>();
            for (String path : paths) {
                HttpResponse<String> r = speculative("arbor-tiny", Map.of("path", path), Map.of());
                assertThat(r.statusCode()).as("draft path %s: %s", path, r.body()).isEqualTo(400);
                assertThat(r.body()).doesNotContain("root").doesNotContain(path).doesNotContain("Exception");
                assertThat(message(r)).contains("option 'draft' gives a file path")
                        .contains("\"draft\": \"NAME\"").contains("arbor-tiny-draft");
                bodies.add(r.body());
            }
            assertThat(bodies).as("one answer for every path").containsOnly(bodies.get(0));
        } finally {
            Files.deleteIfExists(secret);
        }
    }

    @Test
    void directoriesAreTheOperatorsOnly() throws Exception {
        Path dir = Files.createTempDirectory("arbor-it-").resolve("made-by-a-request");
        Map<String, Object> body = Map.of("model", "arbor-tiny", "prompt", "Once", "max_tokens", 2,
                "arbor", Map.of("options", Map.of("cache_dir", dir.toString())));
        HttpResponse<String> r = arbor.post("/v1/completions", JSON.writeValueAsString(body));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(message(r)).contains("'cache_dir'").contains("only the operator sets");
        HttpResponse<String> nested = speculative("arbor-tiny",
                Map.of("backend", "onnxruntime", "format", "llama2c", "path",
                        arbor.dist.resolve("models/arbor-tiny-draft/arbor-tiny-draft.bin").toString(),
                        "options", Map.of("cache_dir", dir.toString())), Map.of());
        assertThat(nested.statusCode()).as(nested.body()).isEqualTo(400);
        assertThat(Files.exists(dir)).as("no directory was created").isFalse();
    }

    @Test
    void aDraftByRegistryNameWorksAndAnUnknownNameSaysNothingAboutFiles() throws Exception {
        HttpResponse<String> byName = speculative("arbor-tiny", "arbor-tiny-draft", Map.of());
        assertThat(byName.statusCode()).as(byName.body()).isEqualTo(200);
        HttpResponse<String> byObject = speculative("arbor-tiny", Map.of("model", "arbor-tiny-draft"), Map.of());
        assertThat(byObject.statusCode()).as(byObject.body()).isEqualTo(200);
        HttpResponse<String> shipped = arbor.post("/v1/completions", JSON.writeValueAsString(Map.of(
                "model", "arbor-tiny-speculative", "prompt", "Once", "max_tokens", 4, "temperature", 0)));
        assertThat(shipped.statusCode()).as(shipped.body()).isEqualTo(200);

        List<String> messages = new ArrayList<>();
        for (String name : List.of("nope", "../../../etc/shadow", "arbor-tiny-draft/../../etc")) {
            HttpResponse<String> r = speculative("arbor-tiny", name, Map.of());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
            assertThat(message(r)).contains("declared models: arbor-tiny-ar, arbor-tiny-draft");
            messages.add(message(r).replace(name, "NAME").replace(name.replace("$", "?"), "NAME"));
        }
        assertThat(messages).containsOnly(messages.get(0));
    }

    @Test
    void aBrokenDraftFailsItsRequestWithoutFileBytesAndThePipelineStaysReady() throws Exception {
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> r = speculative("arbor-tiny", broken, Map.of());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
            assertThat(message(r)).contains("model '" + broken + "' is unavailable")
                    .contains("not a valid llama2c model");
            assertThat(r.body()).doesNotContain("root").doesNotContain("18250").doesNotContain("99999")
                    .doesNotContain(brokenFile.toString());
        }
        HttpResponse<String> models = arbor.get("/v1/models");
        assertThat(models.body()).contains("arbor-tiny");
        HttpResponse<String> status = arbor.http.send(arbor.adminRequest("/admin/pipelines/arbor-tiny").GET()
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(JSON.readTree(status.body()).path("ready").asBoolean()).as(status.body()).isTrue();
        HttpResponse<String> plain = arbor.post("/v1/completions", JSON.writeValueAsString(Map.of(
                "model", "arbor-tiny", "prompt", "Once", "max_tokens", 4)));
        assertThat(plain.statusCode()).as(plain.body()).isEqualTo(200);
    }

    @Test
    void theAdminApiRefusesABrokenModelReferenceWhenItIsSet() throws Exception {
        List<Object> drafts = List.of("nope", broken, Map.of("path", "/nonexistent/draft.bin"),
                Map.of("path", brokenFile.toString()));
        for (Object draft : drafts) {
            HttpResponse<String> r = putStrategy("arbor-tiny-speculative", Map.of("draft", draft, "lookahead", 4));
            assertThat(r.statusCode()).as("draft %s: %s", draft, r.body()).isBetween(400, 499);
            assertThat(r.body()).doesNotContain("root").doesNotContain("18250");
        }
        HttpResponse<String> status = arbor.http.send(arbor.adminRequest("/admin/pipelines/arbor-tiny-speculative")
                .GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(JSON.readTree(status.body()).path("ready").asBoolean()).as(status.body()).isTrue();
        HttpResponse<String> good = putStrategy("arbor-tiny-speculative",
                Map.of("draft", "arbor-tiny-draft", "lookahead", 3));
        assertThat(good.statusCode()).as(good.body()).isEqualTo(200);
    }

    @Test
    void distinctOptionSetsShareOneCachedCopyOfTheDraft() throws Exception {
        speculative("arbor-tiny", "arbor-tiny-draft", Map.of());
        JsonNode before = cache();
        for (int i = 1; i <= 40; i++) {
            Object draft = i % 2 == 0 ? "arbor-tiny-draft" : Map.of("model", "arbor-tiny-draft");
            HttpResponse<String> r = speculative("arbor-tiny", draft, Map.of("lookahead", 1 + i % 8,
                    "max_new_tokens", 2 + i));
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        }
        JsonNode after = cache();
        assertThat(after.path("entries").asInt()).as("cache %s -> %s", before, after)
                .isEqualTo(before.path("entries").asInt());
        assertThat(after.path("bytes").asLong()).isEqualTo(before.path("bytes").asLong());
        assertThat(after.path("bytes").asLong()).isLessThanOrEqualTo(after.path("max_bytes").asLong());
        long drafts = 0;
        for (JsonNode e : after.path("models")) {
            if (e.path("key").asText().contains("arbor-tiny-draft.bin")) {
                drafts++;
            }
        }
        assertThat(drafts).as("copies of the draft in %s", after).isEqualTo(1);
    }

    private static JsonNode cache() throws Exception {
        HttpResponse<String> r = arbor.http.send(arbor.adminRequest("/admin/models").GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body()).path("cache");
    }

    private static HttpResponse<String> putStrategy(String pipeline, Map<String, Object> options) throws Exception {
        return arbor.http.send(arbor.adminRequest("/admin/pipelines/" + pipeline + "/strategy")
                .header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(Map.of("generator", "speculative",
                        "options", options)), StandardCharsets.UTF_8)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
