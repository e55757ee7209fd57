package dev.arbor.benchmarks;

import dev.arbor.api.Options;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.launcher.ArborFramework;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The remote backend's added latency per forward on loopback: a separate {@code bin/arbor serve --expose-models
 * --grpc-port N} process serves arbor-tiny-ar, and this JVM (the assembled runtime, in-process) opens the same model
 * twice, locally on ONNX Runtime and as {@code remote} at {@code grpc://127.0.0.1:N/arbor-tiny-ar}, then times greedy
 * decoding forward by forward on each (a prefill of the prompt, then one-token forwards appending to the state),
 * alternating the two per round. Greedy tokens must agree. Run: {@code benchmarks/remote-bench.sh [TOKENS] [ROUNDS]}.
 */
public final class RemoteForwardBenchmark {
    /** A fixed prompt (ids modulo the vocabulary). */
    private static final int[] PROMPT = {1, 43, 47, 61, 78, 80, 59, 79};

    private RemoteForwardBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path dist = Path.of(args.length > 0 ? args[0] : "distribution/target/arbor").toAbsolutePath();
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 200;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 10;
        int warmup = 3;
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        Path log = Files.createTempFile("arbor-remote-bench-server", ".log");
        Process server = new ProcessBuilder(dist.resolve("bin/arbor").toString(), "serve", "--port", "0",
                "--no-admin", "--expose-models", "--grpc-port", Integer.toString(port))
                .redirectError(log.toFile()).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(server.getInputStream(),
                    StandardCharsets.UTF_8));
            String banner = CompletableFuture.supplyAsync(() -> {
                try {
                    for (String l; (l = out.readLine()) != null; ) {
                        if (l.startsWith("Arbor serving")) {
                            return l;
                        }
                    }
                    return null;
                } catch (java.io.IOException e) {
                    return null;
                }
            }).get(120, TimeUnit.SECONDS);
            if (banner == null) {
                throw new IllegalStateException("the server did not start; its log: " + Files.readString(log));
            }
            run(dist, port, tokens, rounds, warmup);
        } finally {
            server.destroy();
            server.waitFor(30, TimeUnit.SECONDS);
            Files.deleteIfExists(log);
        }
    }

    private static void run(Path dist, int port, int tokens, int rounds, int warmup) throws Exception {
        Path home = Files.createTempDirectory("arbor-remote-bench");
        Files.createDirectories(home.resolve("etc/pipelines"));
        Files.createSymbolicLink(home.resolve("bundles"), dist.resolve("bundles"));
        Path cache = Files.createTempDirectory("arbor-remote-bench-cache");
        String url = "grpc://127.0.0.1:" + port + "/arbor-tiny-ar";
        try (ArborFramework runtime = ArborFramework.start(home, null, Map.of(
                "org.osgi.framework.system.packages.extra", BenchmarkRuntime.API_PACKAGES,
                "arbor.launcher.skip", "arbor-api\\.jar", "arbor.cache", cache.toString(),
                "arbor.etc.poll.ms", "0"));
             ModelBackend local = StructuredOutputBenchmark.service(runtime.context(), ModelBackendProvider.class,
                     "onnxruntime").open(new ModelSpec(
                     dist.resolve("models/arbor-tiny-ar/arbor-tiny-ar.bin"), "llama2c",
                     Options.of(Map.of("device", "cpu", "cache_dir", cache.toString()))));
             ModelBackend remote = StructuredOutputBenchmark.service(runtime.context(), ModelBackendProvider.class,
                     "remote").open(new ModelSpec(Path.of("remote"),
                     "oip", Options.of(Map.of("url", url))))) {
            long[][] localSteps = new long[rounds][];
            long[][] remoteSteps = new long[rounds][];
            long[] localPrefill = new long[rounds];
            long[] remotePrefill = new long[rounds];
            for (int r = -warmup; r < rounds; r++) {
                boolean remoteFirst = (r & 1) == 0;
                Timing a = decode(remoteFirst ? remote : local, tokens);
                Timing b = decode(remoteFirst ? local : remote, tokens);
                Timing l = remoteFirst ? b : a;
                Timing m = remoteFirst ? a : b;
                if (!Arrays.equals(l.ids, m.ids)) {
                    throw new IllegalStateException("local and remote greedy tokens differ");
                }
                if (r >= 0) {
                    localSteps[r] = l.steps;
                    remoteSteps[r] = m.steps;
                    localPrefill[r] = l.prefill;
                    remotePrefill[r] = m.prefill;
                }
            }
            long[] ls = flatten(localSteps);
            long[] rs = flatten(remoteSteps);
            System.out.printf("date %s, arbor-tiny-ar, prompt %d tokens then %d one-token forwards, %d rounds (+%d"
                    + " warm-up), %s, %d cores%n", LocalDate.now(), PROMPT.length, tokens, rounds, warmup, url,
                    Runtime.getRuntime().availableProcessors());
            System.out.printf("| backend | decode forward median (ms) | p90 (ms) | prefill median (ms) |%n");
            System.out.printf("|---|---|---|---|%n");
            System.out.printf("| onnxruntime (local) | %.3f | %.3f | %.3f |%n", pct(ls, 50), pct(ls, 90),
                    pct(localPrefill, 50));
            System.out.printf("| remote (gRPC loopback, second process) | %.3f | %.3f | %.3f |%n", pct(rs, 50),
                    pct(rs, 90), pct(remotePrefill, 50));
            System.out.printf("added per decode forward: median %.3f ms, p90 %.3f ms%n", pct(rs, 50) - pct(ls, 50),
                    pct(rs, 90) - pct(ls, 90));
        }
    }

    private record Timing(long prefill, long[] steps, int[] ids) {
    }

    /** Greedy decoding forward by forward on {@code model}: nanoseconds of the prefill and of each step. */
    private static Timing decode(ModelBackend model, int tokens) {
        long[] steps = new long[tokens];
        int[] ids = new int[tokens];
        int[] prompt = Arrays.stream(PROMPT).map(id -> id % model.card().vocabSize()).toArray();
        try (DecodeState state = model.newState(1)) {
            long t0 = System.nanoTime();
            float[] logits = model.forward(ForwardRequest.next(new int[][] {prompt}, state)).last(0);
            long prefill = System.nanoTime() - t0;
            for (int i = 0; i < tokens; i++) {
                ids[i] = argmax(logits);
                long t = System.nanoTime();
                logits = model.forward(ForwardRequest.next(new int[][] {{ids[i]}}, state)).last(0);
                steps[i] = System.nanoTime() - t;
            }
            return new Timing(prefill, steps, ids);
        }
    }


    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    private static long[] flatten(long[][] rows) {
        return Arrays.stream(rows).flatMapToLong(Arrays::stream).toArray();
    }

    private static double pct(long[] values, int percent) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        int index = (int) Math.min(sorted.length - 1, Math.round(percent / 100.0 * (sorted.length - 1)));
        return sorted[index] / 1e6;
    }
}
