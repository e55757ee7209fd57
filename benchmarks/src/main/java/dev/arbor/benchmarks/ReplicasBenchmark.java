package dev.arbor.benchmarks;

import dev.arbor.tests.serving.ArborReplica;
import dev.arbor.tests.serving.HaproxyBalancer;
import dev.arbor.tests.serving.LoadGenerator;
import dev.arbor.tests.serving.LoadReport;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Throughput of 'arbor serve' replicas behind HAProxy on this machine: one replica alone (no balancer), then 1, 2
 * and 3 replicas behind HAProxy ({@code packaging/haproxy/arbor.cfg}), each driven by {@code clients} streaming
 * clients per replica (closed loop, greedy, {@code max_tokens} each, every stream validated) for {@code seconds}.
 * All replicas start once and stay up; a run sends to the first N only, so idle replicas cost nothing but memory.
 * Each configuration runs {@code rounds} times, interleaved, so that all see the same machine state. Reports
 * tokens/s, requests/s, latency, and per replica the share of requests HAProxy sent it.
 *
 * <pre>java @argfile dev.arbor.benchmarks.ReplicasBenchmark DIST HAPROXY_CFG OUT.md [model] [max_tokens]
 *     [clients per replica] [seconds] [rounds]</pre>
 */
public final class ReplicasBenchmark {
    private static final List<String> PROMPTS = List.of("Once upon a time", "Lily and Ben", "The dog");
    private static final int MAX_REPLICAS = 3;

    private ReplicasBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path dist = Path.of(args[0]).toAbsolutePath();
        Path config = Path.of(args[1]).toAbsolutePath();
        Path out = Path.of(args[2]).toAbsolutePath();
        String model = args.length > 3 ? args[3] : "arbor-tiny";
        int maxTokens = args.length > 4 ? Integer.parseInt(args[4]) : 64;
        int clients = args.length > 5 ? Integer.parseInt(args[5]) : 4;
        int seconds = args.length > 6 ? Integer.parseInt(args[6]) : 20;
        int rounds = args.length > 7 ? Integer.parseInt(args[7]) : 2;
        Path haproxy = HaproxyBalancer.executable().orElseThrow(() -> new IllegalStateException(
                "haproxy is not installed (Debian package haproxy)"));
        Path work = Files.createTempDirectory("arbor-replicas-bench-");
        System.out.println("replica logs in " + work);
        String loadBefore = Files.readString(Path.of("/proc/loadavg")).trim();

        List<ArborReplica> replicas = new ArrayList<>();
        Map<String, List<LoadReport>> runs = new LinkedHashMap<>();
        Map<String, long[]> shares = new LinkedHashMap<>();
        try {
            for (int i = 1; i <= MAX_REPLICAS; i++) {
                replicas.add(ArborReplica.start(dist, "r" + i, work, List.of(), Map.of("JAVA_OPTS", "-Xmx512m")));
            }
            Map<String, URI> servers = new LinkedHashMap<>();
            for (ArborReplica replica : replicas) {
                servers.put(replica.name(), replica.awaitServing(Duration.ofSeconds(180)));
            }
            // warm every replica (model conversion and JIT) before anything is timed
            for (URI server : servers.values()) {
                run(server, model, maxTokens, clients, 4);
            }
            for (int round = 0; round < rounds; round++) {
                for (ArborReplica replica : replicas) {
                    if (!replica.isAlive()) {
                        throw new IllegalStateException("replica " + replica.name() + " exited (log: " + work
                                + "/" + replica.name() + ".log):\n" + replica.logText());
                    }
                }
                runs.computeIfAbsent("1 replica, direct", k -> new ArrayList<>())
                        .add(run(servers.get("r1"), model, maxTokens, clients, seconds));
                for (int n = 1; n <= MAX_REPLICAS; n++) {
                    Map<String, URI> first = new LinkedHashMap<>();
                    servers.entrySet().stream().limit(n).forEach(e -> first.put(e.getKey(), e.getValue()));
                    Path dir = Files.createDirectories(work.resolve("lb-" + n + "-" + round));
                    try (HaproxyBalancer balancer = HaproxyBalancer.start(haproxy, config, dir, first,
                            Duration.ofSeconds(20))) {
                        balancer.awaitServers(s -> first.keySet().stream()
                                .allMatch(name -> "UP".equals(HaproxyBalancer.status(s, name))), Duration.ofSeconds(30));
                        String key = n + (n == 1 ? " replica" : " replicas") + ", HAProxy";
                        runs.computeIfAbsent(key, k -> new ArrayList<>())
                                .add(run(balancer.uri(), model, maxTokens, clients * n, seconds));
                        var stats = balancer.stats();
                        long[] served = shares.computeIfAbsent(key, k -> new long[MAX_REPLICAS]);
                        for (int i = 0; i < n; i++) {
                            served[i] += HaproxyBalancer.counter(stats, "r" + (i + 1), "stot");
                        }
                    }
                }
            }
        } finally {
            for (ArborReplica replica : replicas) {
                replica.close();
            }
        }
        String loadAfter = Files.readString(Path.of("/proc/loadavg")).trim();
        String table = table(runs, shares, model, maxTokens, clients, seconds, rounds, loadBefore, loadAfter);
        System.out.println(table);
        Files.createDirectories(out.getParent());
        Files.writeString(out, table);
    }

    private static LoadReport run(URI server, String model, int maxTokens, int clients, int seconds)
            throws InterruptedException {
        LoadGenerator.Config config = LoadGenerator.Config.of(server, model, PROMPTS, maxTokens, clients)
                .withRequestTimeout(Duration.ofSeconds(120));
        try (LoadGenerator load = new LoadGenerator(config)) {
            LoadReport report = load.run(Long.MAX_VALUE, Duration.ofSeconds(seconds));
            System.out.printf(Locale.ROOT, "%s: %s%n", server, report.summary());
            return report;
        }
    }

    private static String table(Map<String, List<LoadReport>> runs, Map<String, long[]> shares, String model,
                                int maxTokens, int clients, int seconds, int rounds, String loadBefore,
                                String loadAfter) {
        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "Replicas benchmark %s: model %s, max_tokens %d, %d streaming clients per"
                        + " replica, %d s per run, %d rounds (the median round shown); %d CPU cores; load average"
                        + " before %s, after %s%n%n", Instant.now(), model, maxTokens, clients, seconds, rounds,
                Runtime.getRuntime().availableProcessors(), loadBefore, loadAfter));
        md.append("| setup | clients | requests | failed | tokens/s (rounds) | requests/s | p50 latency ms |"
                + " p99 latency ms | requests per replica |\n");
        md.append("|---|---|---|---|---|---|---|---|---|\n");
        runs.forEach((key, reports) -> {
            List<LoadReport> sorted = new ArrayList<>(reports);
            sorted.sort((a, b) -> Double.compare(a.tokensPerSecond(), b.tokensPerSecond()));
            LoadReport median = sorted.get(sorted.size() / 2);
            long requests = reports.stream().mapToLong(r -> r.results().size()).sum();
            long failed = reports.stream().mapToLong(r -> r.failed() + r.truncated() + r.malformed()).sum();
            StringBuilder each = new StringBuilder();
            for (LoadReport r : reports) {
                each.append(each.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.0f",
                        r.tokensPerSecond()));
            }
            long[] served = shares.get(key);
            StringBuilder share = new StringBuilder();
            if (served != null) {
                for (int i = 0; i < served.length && served[i] > 0; i++) {
                    share.append(share.length() == 0 ? "" : " / ").append(served[i]);
                }
            }
            md.append(String.format(Locale.ROOT, "| %s | %d | %d | %d | %.0f (%s) | %.1f | %.0f | %.0f | %s |%n", key,
                    median.concurrency(), requests, failed, median.tokensPerSecond(), each,
                    median.requestsPerSecond(), median.latencyMillis(50), median.latencyMillis(99),
                    share.length() == 0 ? "-" : share));
        });
        return md.toString();
    }
}
