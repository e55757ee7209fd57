package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;

/**
 * Two versions of one plugin installed side by side in a real framework: the higher version serves its part
 * whatever the install order, and each change of the serving bundle is logged naming both bundles and versions.
 */
class PartVersionsIT {
    private static final Logger RUNTIME_LOG = Logger.getLogger("dev.arbor.runtime");

    @Test
    void theHighestVersionOfAPluginServesAndTheChangeIsLogged(@TempDir Path home, @TempDir Path jars)
            throws Exception {
        List<String> lines = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getMessage() != null && r.getMessage().contains("is now served by")) {
                    lines.add(r.getMessage());
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        RUNTIME_LOG.addHandler(capture);
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        Path runnerUp = Path.of(System.getProperty("arbor.testBundles", "target/test-bundles"),
                "runner-up-selector.jar");
        Path v1 = TestJars.withVersion(runnerUp, jars.resolve("runner-up-1.jar"), "1.0.0");
        Path v2 = TestJars.withVersion(runnerUp, jars.resolve("runner-up-2.jar"), "2.0.0");
        Path v15 = TestJars.withVersion(runnerUp, jars.resolve("runner-up-15.jar"), "1.5.0");
        try (RuntimeHarness runtime = new RuntimeHarness(home, models)) {
            PipelineService pipelines = runtime.pipelines();
            runtime.awaitReady("stories260k");
            Options greedy = Options.of(Map.of("temperature", 0, "max_tokens", 8));
            int[] normal = pipelines.complete(CompletionRequest.text("stories260k", "Once", greedy),
                    TextSink.DISCARD).tokens();
            for (Path jar : List.of(v1, v2, v15)) {
                runtime.trust(jar);
            }
            Bundle one = install(runtime, v1);
            RuntimeHarness.await(() -> lines.size() == 1, 10_000, () -> "no log line when 1.0.0 took over: " + lines);
            assertThat(lines.get(0)).contains("token selector 'sample'")
                    .contains("served by dev.arbor.test.runnerup 1.0.0 (ranking 100) instead of dev.arbor.sampling");
            Bundle two = install(runtime, v2);
            RuntimeHarness.await(() -> lines.size() == 2, 10_000, () -> "no log line when 2.0.0 took over: " + lines);
            assertThat(lines.get(1)).contains("served by dev.arbor.test.runnerup 2.0.0 (ranking 100) instead of"
                    + " dev.arbor.test.runnerup 1.0.0 (ranking 100)");
            // an older version installed later neither takes over nor logs
            Bundle between = install(runtime, v15);
            assertThat(pipelines.complete(CompletionRequest.text("stories260k", "Once", greedy), TextSink.DISCARD)
                    .tokens()).isNotEqualTo(normal);
            two.uninstall();
            RuntimeHarness.await(() -> lines.size() == 3, 10_000, () -> "no log line when 2.0.0 left: " + lines);
            assertThat(lines.get(2)).contains("served by dev.arbor.test.runnerup 1.5.0 (ranking 100) instead of"
                    + " dev.arbor.test.runnerup 2.0.0 (ranking 100)");
            between.uninstall();
            one.uninstall();
        } finally {
            RUNTIME_LOG.removeHandler(capture);
        }
    }

    private static Bundle install(RuntimeHarness runtime, Path jar) throws Exception {
        Bundle b = runtime.context().installBundle(jar.toUri().toString());
        b.start();
        return b;
    }
}
