package dev.arbor.benchmarks;

import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.launcher.ArborFramework;
import dev.arbor.testkit.framework.RuntimeHarness;
import org.osgi.framework.ServiceReference;

/** What every benchmark that starts the assembled runtime in-process shares. */
final class BenchmarkRuntime {
    /** The API packages, exported from the class path so the benchmark talks to services with typed calls. */
    static final String API_PACKAGES = RuntimeHarness.API_PACKAGES;

    /**
     * The API packages plus the class path's ONNX Runtime: two native copies of ONNX Runtime in one JVM crash, so a
     * benchmark that also runs ONNX Runtime directly makes the backend bundle use this one and skips the natives
     * bundle ({@code arbor-onnxruntime-runtime.jar}); that bundle's own package, the shared environment the backend
     * asks for, then comes from the class path's classes jar as well.
     */
    static final String API_AND_ONNXRUNTIME = API_PACKAGES
            + ",ai.onnxruntime;version=1.29.0,ai.onnxruntime.providers;version=1.29.0"
            + ",dev.arbor.onnxruntime.runtime;version=1.0.0";

    private BenchmarkRuntime() {
    }

    /** The pipeline service once {@code pipeline} is ready (bundles and configuration start asynchronously). */
    static PipelineService awaitReady(ArborFramework runtime, String pipeline) throws InterruptedException {
        for (int i = 0; i < 3000; i++) {
            ServiceReference<PipelineService> ref = runtime.context().getServiceReference(PipelineService.class);
            if (ref != null) {
                PipelineService service = runtime.context().getService(ref);
                if (service.status(pipeline).map(status -> status.ready()).orElse(false)) {
                    return service;
                }
            }
            Thread.sleep(10);
        }
        throw new IllegalStateException(pipeline + " did not become ready within 30 s");
    }
}
