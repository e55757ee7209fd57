package dev.arbor.packaging;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.arbor.tests.serving.ArborReplica;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The manifests' probes against a running installation: {@code arbor serve} started as the chart starts it answers
 * 200 on every probe path of the Helm chart's values and of the KServe runtime, and after SIGTERM its readiness
 * path stops answering 200 while the process still runs (Kubernetes then takes the pod out of its Service before
 * requests are refused).
 */
class ManifestProbesIT {
    private static final YAMLMapper YAML = new YAMLMapper();

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void probePathsAnswerAndReadinessFallsFirstOnSigterm(@TempDir Path work) throws Exception {
        Path packaging = Path.of(System.getProperty("arbor.packaging", "."));
        Path dist = Path.of(System.getProperty("arbor.dist", "../distribution/target/arbor"));
        JsonNode values = YAML.readTree(packaging.resolve("helm/arbor/values.yaml").toFile());
        JsonNode runtime = YAML.readTree(packaging.resolve("kserve/cluster-serving-runtime.yaml").toFile());
        Set<String> paths = new LinkedHashSet<>();
        values.path("probes").forEach(p -> paths.add(p.path("path").asText()));
        JsonNode container = runtime.path("spec").path("containers").path(0);
        paths.add(container.path("readinessProbe").path("httpGet").path("path").asText());
        paths.add(container.path("livenessProbe").path("httpGet").path("path").asText());
        String readiness = values.path("probes").path("readiness").path("path").asText();
        // the drain delay the chart sets, at least a few seconds so that the polling below sees the window
        long delay = Math.max(3000, values.path("drain").path("drainDelayMs").asLong(0));

        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        try (ArborReplica replica = ArborReplica.start(dist, "probes", work, List.of("--shutdown-grace-ms",
                values.path("drain").path("shutdownGraceMs").asText(), "--drain-delay-ms", String.valueOf(delay)),
                Map.of())) {
            URI base = replica.awaitServing(Duration.ofSeconds(120));
            for (String path : paths) {
                assertThat(status(http, base.resolve(path))).as("GET %s on a serving replica", path).isEqualTo(200);
            }
            replica.terminate();
            int status = 200;
            // poll the probe as the kubelet does, until it fails; the process must still be there then
            while (status == 200) {
                status = status(http, base.resolve(readiness));
                Thread.sleep(50);
            }
            // a probe succeeds on 200-399; the process must still answer (not -1) when the probe fails
            assertThat(status).as("readiness after SIGTERM, before the process exits").isGreaterThanOrEqualTo(400);
            assertThat(replica.awaitExit(Duration.ofSeconds(60))).isEqualTo(128 + 15);
        }
    }

    /** The status of GET uri, or -1 when nothing listens any more. */
    private static int status(HttpClient http, URI uri) throws Exception {
        try {
            return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (ConnectException gone) {
            return -1;
        }
    }
}
