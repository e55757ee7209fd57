package dev.arbor.benchmarks;

import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.launcher.ArborFramework;
import dev.arbor.models.llama2c.Llama2cOnnxConverter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.Arrays;
import java.util.Map;

/**
 * Greedy decoding of stories260K: Arbor's full pipeline (inside Felix: pipeline service, part leases, sampler
 * chain, autoregressive generator, ONNX Runtime backend, streaming detokenizer) against {@link MinimalOrtLoop} on
 * the same converted model, interleaved in one JVM so both see the same machine state and the same ONNX Runtime
 * (library, environment and default session options).
 *
 * <pre>java -cp ... dev.arbor.benchmarks.GreedyDecodeBenchmark DIST MODELS [tokens] [rounds]</pre>
 */
public final class GreedyDecodeBenchmark {
    private GreedyDecodeBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path dist = Path.of(args.length > 0 ? args[0] : "distribution/target/arbor").toAbsolutePath();
        Path models = Path.of(args.length > 1 ? args[1] : "../shared/models").toAbsolutePath().normalize();
        int tokens = args.length > 2 ? Integer.parseInt(args[2]) : 200;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 20;
        int warmup = 5;
        System.setProperty("OPT_OUT_TRACKING", "true");
        System.setProperty("ai.djl.offline", "true");

        Path cache = Files.createTempDirectory("arbor-bench-cache");
        System.setProperty("arbor.cache", cache.toString());
        Path onnx = Llama2cOnnxConverter.convertCached(models.resolve("stories260K/stories260K.bin"), 0, cache);
        Path home = Files.createTempDirectory("arbor-bench-home");
        Files.createDirectories(home.resolve("etc/pipelines"));
        Files.createSymbolicLink(home.resolve("bundles"), dist.resolve("bundles"));
        Files.copy(dist.resolve("etc/pipelines/stories260k.json"), home.resolve("etc/pipelines/stories260k.json"));
        String api = BenchmarkRuntime.API_AND_ONNXRUNTIME;
        try (ArborFramework runtime = ArborFramework.start(home, null, Map.of(
                "org.osgi.framework.system.packages.extra", api, "arbor.launcher.skip", "arbor-api\\.jar|arbor-onnxruntime-runtime\\.jar",
                "arbor.models", models.toString(), "arbor.cache", cache.toString(), "arbor.etc.poll.ms", "0"));
             MinimalOrtLoop minimal = new MinimalOrtLoop(onnx)) {
            PipelineService pipelines = BenchmarkRuntime.awaitReady(runtime, "stories260k");
            CompletionRequest request = CompletionRequest.text("stories260k", "",
                    Options.of(Map.of("temperature", 0, "max_tokens", tokens, "repetition_penalty", 1.0)));
            int[] ids = new int[tokens];
            long[] arborTotal = new long[rounds];
            long[] arborFirst = new long[rounds];
            long[] minimalTotal = new long[rounds];
            long[] minimalFirst = new long[rounds];
            int[] arborIds = null;
            for (int r = -warmup; r < rounds; r++) {
                long[] m = minimal.run(1, ids);
                Completion c = pipelines.complete(request, TextSink.DISCARD);
                if (r >= 0) {
                    minimalFirst[r] = m[0];
                    minimalTotal[r] = m[1];
                    arborFirst[r] = c.timeToFirstTokenNanos();
                    arborTotal[r] = c.totalNanos();
                }
                arborIds = c.tokens();
            }
            if (!Arrays.equals(arborIds, ids)) {
                throw new IllegalStateException("Arbor and the minimal loop produced different tokens");
            }
            double arborTps = tokens / (median(arborTotal) / 1e9);
            double minimalTps = tokens / (median(minimalTotal) / 1e9);
            System.out.printf("date %s, %d tokens greedy from BOS, %d rounds (+%d warm-up), medians%n",
                    LocalDate.now(), tokens, rounds, warmup);
            System.out.printf("| path | tokens/s | time to first token (ms) |%n|---|---|---|%n");
            System.out.printf("| Arbor (Felix, full pipeline) | %.0f | %.2f |%n", arborTps, median(arborFirst) / 1e6);
            System.out.printf("| minimal ONNX Runtime loop | %.0f | %.2f |%n", minimalTps,
                    median(minimalFirst) / 1e6);
            System.out.printf("ratio Arbor / minimal tokens/s = %.3f%n", arborTps / minimalTps);
        }
    }

    private static double median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }
}
