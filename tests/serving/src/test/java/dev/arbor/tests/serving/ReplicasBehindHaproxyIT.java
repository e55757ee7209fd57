package dev.arbor.tests.serving;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three {@code arbor serve} replicas of the assembled installation behind HAProxy, configured by the project's own
 * {@code packaging/haproxy/arbor.cfg}, all on loopback. Clients send non-streaming and streaming completions through
 * the balancer; while one replica is busy with some of them it gets SIGTERM. That replica's health check is off, the
 * worst case for a balancer: it never learns the replica left, so (with least-connections balancing) it keeps
 * sending new requests there, which are refused (503 while the replica drains, connection refused once it is gone)
 * and must be retried on another replica. Nothing a client sees may fail: every non-streaming request is answered
 * 200 with the right text and every stream is either complete ({@code [DONE]}, the right text) or ended cleanly
 * with an error event; such retries must have happened; the stopped replica must have drained (its running requests
 * finished) and exited with 143 (SIGTERM). (That the health check takes a draining replica out is
 * {@code ManifestProbesIT}'s part: readiness fails while the process still serves.)
 *
 * <p>Needs the Debian package {@code haproxy} ({@code .ci/run} installs it); skipped without it unless
 * {@code arbor.requireModels=true} (CI), where nothing may skip.
 */
class ReplicasBehindHaproxyIT {
    private static final String MODEL = "arbor-tiny"; // the embedded default: needs nothing outside the installation
    private static final String PROMPT = "Once upon a time";
    private static final int MAX_TOKENS = 32;
    private static final int CLIENTS = 6;
    private static final String VICTIM = "r2";
    private static final List<String> NAMES = List.of("r1", VICTIM, "r3");

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void aReplicaStoppedUnderLoadCostsNoClientARequest(@TempDir Path work) throws Exception {
        Path haproxy = haproxyOrSkip();
        Path dist = Path.of(System.getProperty("arbor.dist", "../../distribution/target/arbor"));
        Path config = Path.of(System.getProperty("arbor.haproxyConfig", "../../packaging/haproxy/arbor.cfg"));
        assertThat(config).as("the project's HAProxy configuration").isRegularFile();

        Map<String, ArborReplica> replicas = new LinkedHashMap<>();
        try {
            for (String name : NAMES) {
                // A grace longer than any request here takes: the drain must end with every running request done.
                // The victim refuses at once on SIGTERM (no drain delay): it has no readiness window either.
                List<String> args = new ArrayList<>(List.of("--shutdown-grace-ms", "30000"));
                if (name.equals(VICTIM)) {
                    args.addAll(List.of("--drain-delay-ms", "0"));
                }
                replicas.put(name, ArborReplica.start(dist, name, work, args, Map.of("JAVA_OPTS", "-Xmx384m")));
            }
            Map<String, URI> servers = new LinkedHashMap<>();
            for (ArborReplica replica : replicas.values()) {
                servers.put(replica.name(), replica.awaitServing(Duration.ofSeconds(120)));
            }
            String expected = reference(servers.get("r1"));

            try (HaproxyBalancer balancer = HaproxyBalancer.start(haproxy, config, work, servers,
                    Map.of(VICTIM, "no-check"), Duration.ofSeconds(20))) {
                balancer.awaitServers(s -> NAMES.stream().filter(n -> !n.equals(VICTIM))
                        .allMatch(n -> "UP".equals(HaproxyBalancer.status(s, n))), Duration.ofSeconds(30));

                MixedCompletionLoad load = new MixedCompletionLoad(balancer.uri(), MODEL, PROMPT, MAX_TOKENS,
                        expected, false);
                List<MixedCompletionLoad.Result> results;
                Map<String, Map<String, String>> atStop;
                try {
                    load.start(CLIENTS);
                    // stop the victim while it is in the middle of requests, after it has answered some
                    atStop = balancer.awaitServers(s -> HaproxyBalancer.counter(s, VICTIM, "stot") >= 4
                            && HaproxyBalancer.counter(s, VICTIM, "scur") >= 1, Duration.ofSeconds(60));
                    int before = load.completed();
                    ArborReplica victim = replicas.get(VICTIM);
                    victim.terminate();
                    int status = victim.awaitExit(Duration.ofSeconds(60));
                    assertThat(status).as("exit status of the replica stopped by SIGTERM:\n%s", victim.logText())
                            .isEqualTo(128 + 15);
                    assertThat(victim.logText()).as("the stopped replica's log").contains("stopped taking requests")
                            .contains("its running requests finished");
                    // load goes on: every request HAProxy sends to the gone replica must be retried elsewhere
                    assertThat(load.awaitCompleted(load.completed() + 2 * CLIENTS, Duration.ofSeconds(60)))
                            .as("requests answered after the replica left").isTrue();
                    assertThat(load.completed()).as("requests answered while the replica stopped").isGreaterThan(before);
                } finally {
                    results = load.stop();
                }
                Map<String, Map<String, String>> end = balancer.stats();
                report(results, atStop, end);

                List<MixedCompletionLoad.Result> failed = results.stream()
                        .filter(r -> r.kind() == MixedCompletionLoad.Kind.FAILED).toList();
                assertThat(failed).as("failed requests (streams cut off or malformed, non-streaming errors);"
                        + " HAProxy log:\n%s", String.join("\n", balancer.requestLog())).isEmpty();
                assertThat(results.stream().filter(r -> !r.streamed()))
                        .as("non-streaming requests").isNotEmpty()
                        .allMatch(r -> r.kind() == MixedCompletionLoad.Kind.OK);
                assertThat(results.stream().filter(MixedCompletionLoad.Result::streamed)).as("streams").isNotEmpty();
                assertThat(HaproxyBalancer.counter(end, HaproxyBalancer.BACKEND, "wretr"))
                        .as("requests the stopped replica refused, retried on another").isPositive();
                for (String survivor : List.of("r1", "r3")) {
                    assertThat(replicas.get(survivor).isAlive()).as("replica %s still runs", survivor).isTrue();
                    assertThat(HaproxyBalancer.counter(end, survivor, "stot")).as("requests %s answered", survivor)
                            .isPositive();
                }
            }
        } finally {
            for (ArborReplica replica : replicas.values()) {
                replica.close();
            }
        }
    }

    /** HAProxy's executable; skips the test where it is missing, unless CI forbids skipping. */
    private static Path haproxyOrSkip() {
        var found = HaproxyBalancer.executable();
        if (found.isEmpty()) {
            String message = "haproxy is not installed (Debian package haproxy; .ci/run installs it)";
            if (Boolean.parseBoolean(System.getProperty("arbor.requireModels", "false"))) {
                Assertions.fail(message + " and arbor.requireModels=true forbids skipping");
            }
            Assumptions.abort(message);
        }
        return found.get();
    }

    /** The greedy completion straight from one replica: what every answer through the balancer must say. */
    private static String reference(URI server) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String body = "{\"model\":\"" + MODEL + "\",\"prompt\":\"" + PROMPT + "\",\"max_tokens\":" + MAX_TOKENS
                + ",\"temperature\":0}";
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(server.resolve("/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as("reference completion: %s", response.body()).isEqualTo(200);
        String text = new ObjectMapper().readTree(response.body()).path("choices").path(0).path("text").asText();
        assertThat(text).as("reference completion text").isNotEmpty();
        return text;
    }

    private static void report(List<MixedCompletionLoad.Result> results, Map<String, Map<String, String>> atStop,
                               Map<String, Map<String, String>> end) {
        Map<String, Long> kinds = results.stream().collect(Collectors.groupingBy(
                r -> (r.streamed() ? "stream " : "whole ") + r.kind(), LinkedHashMap::new, Collectors.counting()));
        List<String> served = new ArrayList<>();
        for (String name : NAMES) {
            served.add(name + "=" + HaproxyBalancer.counter(end, name, "stot"));
        }
        System.out.printf("replicas behind HAProxy: %d requests %s; served %s; victim in flight at SIGTERM %d;"
                        + " backend retries %d, redispatches %d%n", results.size(), kinds, served,
                HaproxyBalancer.counter(atStop, VICTIM, "scur"),
                HaproxyBalancer.counter(end, HaproxyBalancer.BACKEND, "wretr"),
                HaproxyBalancer.counter(end, HaproxyBalancer.BACKEND, "wredis"));
    }
}
