package dev.arbor.tests.security;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.testkit.SharedModels;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
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
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real {@code bin/arbor serve} of the assembled distribution, started as its own process with an API key and an
 * admin password, for probes that must see what a remote client sees. Close it to stop the process.
 */
final class ServedArbor implements AutoCloseable {
    static final String API_KEY = "security-it-api-key";
    static final String ADMIN_PASSWORD = "security-it-admin-secret";
    private static final Pattern SERVING = Pattern.compile("Arbor serving http://([^:]+):(\\d+) \\(pipelines: (.*)\\)");

    final Path dist;
    final Path models;
    final Path log;
    final int port;
    final int adminPort;
    final Process process;
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    private ServedArbor(Path dist, Path models, Path log, int port, int adminPort, Process process) {
        this.dist = dist;
        this.models = models;
        this.log = log;
        this.port = port;
        this.adminPort = adminPort;
        this.process = process;
    }

    /** The installation the build assembled ({@code distribution/target/arbor}). */
    static Path distribution() {
        return Path.of(System.getProperty("arbor.dist", "../../distribution/target/arbor")).toAbsolutePath();
    }

    /** Starts {@code bin/arbor serve --port 0 EXTRA...} and waits for its banner (90 s at most). */
    static ServedArbor start(String... extraServeArgs) throws Exception {
        return start(Map.of(), extraServeArgs);
    }

    /** As {@link #start(String...)}, with extra environment variables for the server process. */
    static ServedArbor start(Map<String, String> env, String... extraServeArgs) throws Exception {
        return startIn(distribution(), env, extraServeArgs);
    }

    /** As {@link #start(Map, String...)}, running the installation at {@code dist} (its {@code bin/arbor}). */
    static ServedArbor startIn(Path dist, Map<String, String> env, String... extraServeArgs) throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        Path log = Files.createTempFile("arbor-security-", ".log");
        int adminPort = freePortOutsideEphemeralRange();
        List<String> command = new ArrayList<>(List.of(dist.resolve("bin/arbor").toString(), "serve", "--port", "0",
                "--admin-port", Integer.toString(adminPort)));
        command.addAll(List.of(extraServeArgs));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("ARBOR_MODELS", models.toString());
        pb.environment().put("ARBOR_ADMIN_PASSWORD", ADMIN_PASSWORD);
        pb.environment().put("ARBOR_API_KEY", API_KEY);
        pb.environment().putAll(env);
        pb.redirectError(log.toFile());
        Process process = pb.start();
        CompletableFuture<String> banner = CompletableFuture.supplyAsync(() -> {
            try {
                BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                        StandardCharsets.UTF_8));
                for (String l; (l = out.readLine()) != null; ) {
                    if (SERVING.matcher(l).find()) {
                        // keep draining stdout so the server never blocks on a full pipe
                        Thread drain = new Thread(() -> {
                            try {
                                out.transferTo(java.io.Writer.nullWriter());
                            } catch (IOException ignored) {
                                // the process ended
                            }
                        }, "arbor-stdout-drain");
                        drain.setDaemon(true);
                        drain.start();
                        return l;
                    }
                }
                return null;
            } catch (IOException e) {
                return null;
            }
        });
        String line = banner.get(90, TimeUnit.SECONDS);
        if (line == null) {
            process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        assertThat(line).as("'arbor serve' announced its address; its log:\n%s", Files.readString(log)).isNotNull();
        Matcher m = SERVING.matcher(line);
        assertThat(m.find()).isTrue();
        ServedArbor served = new ServedArbor(dist, models, log, Integer.parseInt(m.group(2)), adminPort, process);
        if (!List.of(extraServeArgs).contains("--no-admin")) {
            served.awaitAdminPort(); // the banner comes when the API listens; the admin server starts beside it
        }
        return served;
    }

    /**
     * A free loopback port below the kernel's ephemeral range. The admin port must be chosen before the server starts
     * (the console has no "any free port" mode), and a port from {@code new ServerSocket(0)} comes from the
     * ephemeral range, where any outgoing connection (a test's clients) may take it before the server binds it.
     */
    private static int freePortOutsideEphemeralRange() throws IOException {
        int low = 32768;
        Path range = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
        if (Files.isReadable(range)) {
            low = Integer.parseInt(Files.readString(range).trim().split("\\s+")[0]);
        }
        int from = Math.max(1024, low - 8192);
        java.util.SplittableRandom random = new java.util.SplittableRandom();
        for (int tries = 0; tries < 200; tries++) {
            int candidate = from + random.nextInt(Math.max(1, low - from));
            try (ServerSocket probe = new ServerSocket(candidate, 1, java.net.InetAddress.getLoopbackAddress())) {
                return probe.getLocalPort();
            } catch (IOException taken) {
                // in use: try another
            }
        }
        throw new IOException("no free loopback port in [" + from + ", " + low + ")");
    }

    private void awaitAdminPort() throws Exception {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (true) {
            try (java.net.Socket s = new java.net.Socket("127.0.0.1", adminPort)) {
                return;
            } catch (IOException notYet) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the admin server never listened on " + adminPort + "; log:\n" + log());
                }
                Thread.sleep(50);
            }
        }
    }

    URI api(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    URI admin(String path) {
        return URI.create("http://127.0.0.1:" + adminPort + path);
    }

    /** POSTs {@code json} to the public API with the API key. */
    HttpResponse<String> post(String path, String json) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(api(path)).timeout(Duration.ofSeconds(120))
                .header("Authorization", "Bearer " + API_KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** GETs {@code path} of the public API with the API key. */
    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(api(path)).timeout(Duration.ofSeconds(60))
                .header("Authorization", "Bearer " + API_KEY).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A request builder for the admin surface, with the admin credentials. */
    HttpRequest.Builder adminRequest(String path) {
        String basic = Base64.getEncoder().encodeToString(("admin:" + ADMIN_PASSWORD)
                .getBytes(StandardCharsets.UTF_8));
        return HttpRequest.newBuilder(admin(path)).timeout(Duration.ofSeconds(60))
                .header("Authorization", "Basic " + basic);
    }

    /** What the server has written to stderr (its log) so far. */
    String log() throws IOException {
        return Files.readString(log, StandardCharsets.UTF_8);
    }

    @Override
    public void close() throws Exception {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            }
        }
        Files.deleteIfExists(log);
    }
}
