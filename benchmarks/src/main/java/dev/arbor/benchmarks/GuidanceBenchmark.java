package dev.arbor.benchmarks;

import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.launcher.ArborFramework;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.osgi.framework.Bundle;

/**
 * Cost per token of classifier-free guidance ({@code cfg} generator, bundle {@code dev.arbor.generation.cfg})
 * relative to unguided decoding on stories260K, through the assembled runtime (Felix, pipeline service, ONNX Runtime
 * backend). Three pipelines that differ only in their generator — {@code autoregressive}, {@code cfg} with
 * {@code mode=fork} and {@code cfg} with {@code mode=batch} (guidance_scale 1.5, unconditional context [BOS]) — run
 * the same request (greedy, {@code ignore_eos}, fixed length) interleaved round by round; tokens/s are medians.
 *
 * <p>If the distribution does not contain the cfg bundle yet, the bundle jar given as the fifth argument is
 * installed into the running framework.
 *
 * <pre>java @argfile dev.arbor.benchmarks.GuidanceBenchmark DIST MODELS [tokens] [rounds] [cfg-bundle.jar]</pre>
 */
public final class GuidanceBenchmark {
    private static final String PIPELINE = "stories260k";
    private static final String PROMPT = "Once upon a time";

    private GuidanceBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path dist = Path.of(args.length > 0 ? args[0] : "distribution/target/arbor").toAbsolutePath();
        Path models = Path.of(args.length > 1 ? args[1] : "../shared/models").toAbsolutePath().normalize();
        int tokens = args.length > 2 ? Integer.parseInt(args[2]) : 200;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 20;
        Path cfgJar = Path.of(args.length > 4 ? args[4]
                : "bundles/guidance-cfg/target/arbor-guidance-cfg-0.1.0-SNAPSHOT.jar").toAbsolutePath();
        int warmup = 5;
        System.setProperty("OPT_OUT_TRACKING", "true");
        System.setProperty("ai.djl.offline", "true");

        Path cache = Files.createTempDirectory("arbor-bench-cache");
        System.setProperty("arbor.cache", cache.toString());
        Path home = Files.createTempDirectory("arbor-bench-home");
        Files.createDirectories(home.resolve("etc/pipelines"));
        Files.createSymbolicLink(home.resolve("bundles"), dist.resolve("bundles"));
        Files.copy(dist.resolve("etc/pipelines/stories260k.json"), home.resolve("etc/pipelines/stories260k.json"));
        String api = BenchmarkRuntime.API_PACKAGES;
        try (ArborFramework runtime = ArborFramework.start(home, null, Map.of(
                "org.osgi.framework.system.packages.extra", api, "arbor.launcher.skip", "arbor-api\\.jar",
                "arbor.models", models.toString(), "arbor.cache", cache.toString(), "arbor.etc.poll.ms", "0"))) {
            boolean present = Arrays.stream(runtime.context().getBundles())
                    .anyMatch(b -> "dev.arbor.generation.cfg".equals(b.getSymbolicName()));
            if (!present) {
                Bundle b = runtime.context().installBundle(cfgJar.toUri().toString());
                b.start();
                System.out.println("installed " + cfgJar + " (not in the distribution yet)");
            }
            PipelineService pipelines = BenchmarkRuntime.awaitReady(runtime, PIPELINE);
            PipelineDefinition original = pipelines.status(PIPELINE).orElseThrow().definition();
            Map<String, PartRef> variants = new LinkedHashMap<>();
            variants.put("unguided (autoregressive)", original.generator());
            variants.put("cfg, mode fork", new PartRef("cfg", Options.of(Map.of("guidance_scale", 1.5,
                    "mode", "fork"))));
            variants.put("cfg, mode batch", new PartRef("cfg", Options.of(Map.of("guidance_scale", 1.5,
                    "mode", "batch"))));
            Map<String, String> names = new LinkedHashMap<>();
            int i = 0;
            for (Map.Entry<String, PartRef> v : variants.entrySet()) {
                String name = PIPELINE + "-bench-" + i++;
                pipelines.define(new PipelineDefinition(name, v.getKey(), original.model(), original.tokenizer(),
                        v.getValue(), original.processors(), original.selector(), original.postProcessors(),
                        original.defaults(), original.overrides()));
                BenchmarkRuntime.awaitReady(runtime, name);
                names.put(v.getKey(), name);
            }
            Options options = Options.of(Map.of("temperature", 0, "max_tokens", tokens, "ignore_eos", true,
                    "repetition_penalty", 1.0));
            Map<String, long[]> totals = new LinkedHashMap<>();
            Map<String, Integer> forwards = new LinkedHashMap<>();
            names.keySet().forEach(k -> totals.put(k, new long[rounds]));
            for (int r = -warmup; r < rounds; r++) {
                for (Map.Entry<String, String> e : names.entrySet()) {
                    Completion c = pipelines.complete(CompletionRequest.text(e.getValue(), PROMPT, options),
                            TextSink.DISCARD);
                    if (c.tokens().length != tokens) {
                        throw new IllegalStateException(e.getKey() + " produced " + c.tokens().length + " tokens");
                    }
                    if (r >= 0) {
                        totals.get(e.getKey())[r] = c.totalNanos();
                    }
                    forwards.put(e.getKey(), ((Number) c.stats().get("forward_passes")).intValue());
                }
            }
            double base = tokens / (median(totals.get("unguided (autoregressive)")) / 1e9);
            System.out.printf("date %s, prompt \"%s\", %d tokens greedy (ignore_eos), %d rounds (+%d warm-up) "
                    + "interleaved, medians%n", LocalDate.now(), PROMPT, tokens, rounds, warmup);
            System.out.printf("| path | tokens/s | ms per token | forward calls | cost per token vs unguided |%n"
                    + "|---|---|---|---|---|%n");
            for (String k : names.keySet()) {
                double tps = tokens / (median(totals.get(k)) / 1e9);
                System.out.printf("| %s | %.0f | %.3f | %d | %.2f |%n", k, tps, 1e3 / tps, forwards.get(k),
                        base / tps);
            }
        }
    }

    private static double median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }
}
