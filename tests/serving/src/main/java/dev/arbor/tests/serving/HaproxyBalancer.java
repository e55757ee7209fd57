package dev.arbor.tests.serving;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * HAProxy (the Debian package {@code haproxy}) in front of replicas, in the foreground: the project's configuration
 * ({@code packaging/haproxy/arbor.cfg}: health checks, retries, balancing) plus a generated backend listing the
 * servers, listening on loopback ports of its own. Its statistics page ({@code /stats;csv}) tells each server's
 * health state and counters.
 */
public final class HaproxyBalancer implements AutoCloseable {
    /** The backend the project's configuration sends requests to. */
    public static final String BACKEND = "arbor";

    private final Process process;
    private final URI uri;
    private final URI stats;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private final List<String> log = new ArrayList<>();

    private HaproxyBalancer(Process process, URI uri, URI stats) {
        this.process = process;
        this.uri = uri;
        this.stats = stats;
        Thread reader = new Thread(this::readOutput, "haproxy-output");
        reader.setDaemon(true);
        reader.start();
    }

    /** The haproxy executable on PATH or in /usr/sbin (where Debian puts it, often off a user's PATH). */
    public static Optional<Path> executable() {
        List<String> dirs = new ArrayList<>(Arrays.asList(System.getenv().getOrDefault("PATH", "").split(":")));
        dirs.add("/usr/sbin");
        dirs.add("/usr/local/sbin");
        return dirs.stream().filter(d -> !d.isEmpty()).map(d -> Path.of(d, "haproxy")).filter(Files::isExecutable)
                .findFirst();
    }

    /**
     * Starts {@code haproxy -db -f config -f work/servers.cfg} with {@code servers} (name to base URI) as the
     * backend's servers, and waits until its statistics page answers.
     */
    public static HaproxyBalancer start(Path haproxy, Path config, Path work, Map<String, URI> servers,
                                        Duration timeout) throws IOException, InterruptedException {
        return start(haproxy, config, work, servers, Map.of(), timeout);
    }

    /**
     * As {@link #start(Path, Path, Path, Map, Duration)}, with extra HAProxy server options for some servers
     * ({@code serverOptions}: name to options, e.g. {@code "no-check"}).
     */
    public static HaproxyBalancer start(Path haproxy, Path config, Path work, Map<String, URI> servers,
                                        Map<String, String> serverOptions, Duration timeout)
            throws IOException, InterruptedException {
        StringBuilder backend = new StringBuilder("backend " + BACKEND + "\n");
        servers.forEach((name, server) -> backend.append("    server ").append(name).append(' ')
                .append(server.getHost()).append(':').append(server.getPort())
                .append(serverOptions.containsKey(name) ? " " + serverOptions.get(name) : "").append('\n'));
        Path serversFile = Files.writeString(work.resolve("servers.cfg"), backend);
        int port = freePort();
        int statsPort = freePort();
        ProcessBuilder builder = new ProcessBuilder(haproxy.toString(), "-db", "-f", config.toString(), "-f",
                serversFile.toString()).redirectErrorStream(true);
        builder.environment().put("ARBOR_LB_BIND", "127.0.0.1:" + port);
        builder.environment().put("ARBOR_LB_STATS_BIND", "127.0.0.1:" + statsPort);
        HaproxyBalancer balancer = new HaproxyBalancer(builder.start(), URI.create("http://127.0.0.1:" + port),
                URI.create("http://127.0.0.1:" + statsPort + "/stats;csv"));
        balancer.awaitServers(s -> !s.isEmpty(), timeout);
        return balancer;
    }

    /** The front end's base URI. */
    public URI uri() {
        return uri;
    }

    /** Rows of the statistics page by server name ({@code BACKEND} for the backend's totals); empty until it answers. */
    public Map<String, Map<String, String>> stats() throws IOException, InterruptedException {
        if (!process.isAlive()) {
            throw new IllegalStateException("haproxy exited with " + process.exitValue() + ":\n" + logText());
        }
        HttpResponse<String> response;
        try {
            response = http.send(HttpRequest.newBuilder(stats).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (ConnectException notYet) {
            return Map.of();
        }
        String[] lines = response.body().split("\n");
        String[] header = lines[0].replaceFirst("^# ", "").split(",", -1);
        Map<String, Map<String, String>> rows = new LinkedHashMap<>();
        for (int i = 1; i < lines.length; i++) {
            String[] cells = lines[i].split(",", -1);
            if (cells.length < 2 || !cells[0].equals(BACKEND)) {
                continue;
            }
            Map<String, String> row = new LinkedHashMap<>();
            for (int c = 0; c < Math.min(header.length, cells.length); c++) {
                row.put(header[c], cells[c]);
            }
            rows.put(cells[1].equals("BACKEND") ? BACKEND : cells[1], row);
        }
        return rows;
    }

    /**
     * Waits until the statistics satisfy {@code condition} (polling the page, which is the balancer's own view of
     * the servers' health); returns them; fails after {@code timeout}.
     */
    public Map<String, Map<String, String>> awaitServers(Predicate<Map<String, Map<String, String>>> condition,
                                                         Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Map<String, Map<String, String>> last = Map.of();
        while (System.nanoTime() < deadline) {
            last = stats();
            if (condition.test(last)) {
                return last;
            }
            Thread.sleep(50); // the page is the event source: HAProxy pushes nothing
        }
        throw new IllegalStateException("HAProxy's servers did not reach the expected state within " + timeout
                + "; last statistics: " + last + "\n" + logText());
    }

    /** The server's health state as HAProxy shows it ("UP", "DOWN", "UP 1/2", "NOLB", ...); null if unknown. */
    public static String status(Map<String, Map<String, String>> stats, String server) {
        Map<String, String> row = stats.get(server);
        return row == null ? null : row.get("status");
    }

    /** A numeric counter of the server's (or the backend's) row, 0 when empty. */
    public static long counter(Map<String, Map<String, String>> stats, String server, String column) {
        Map<String, String> row = stats.get(server);
        String value = row == null ? null : row.get(column);
        return value == null || value.isEmpty() ? 0 : Long.parseLong(value);
    }

    /** Everything HAProxy printed (its request log, one line per request, and its alerts). */
    public String logText() {
        synchronized (log) {
            return String.join("\n", log);
        }
    }

    /** The request log lines (see the log-format in packaging/haproxy/arbor.cfg). */
    public List<String> requestLog() {
        synchronized (log) {
            return log.stream().filter(l -> l.contains(" rc=")).toList();
        }
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    private void readOutput() {
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = lines.readLine()) != null) {
                synchronized (log) {
                    log.add(line);
                }
            }
        } catch (IOException e) {
            // haproxy is gone
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }
}
