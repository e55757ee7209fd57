package dev.arbor.onnxruntime.runtime;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtProvider;
import java.util.EnumSet;
import java.util.logging.Logger;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;

/**
 * Creates the process-wide {@link OrtEnvironment} when the runtime bundle starts: only where creating it cannot crash
 * the JVM ({@link TelemetryGuard}), with telemetry off and at the native log level the user chose
 * ({@link NativeLogLevel}). Immediate, so the ~0.6 s native load happens at startup rather than on the first request
 * (OSGI-NOTES 6.11). The environment is a JVM singleton owned by ORT: backends obtain it from {@link #environment()},
 * so correctness never depends on activation order. It is deliberately never closed: closing it would invalidate
 * every session in the JVM, and native code cannot be reloaded anyway.
 */
@Component(immediate = true, service = {})
public final class OrtRuntime {
    private static final Logger LOG = Logger.getLogger(OrtRuntime.class.getName());
    private static OrtEnvironment environment;

    /**
     * Loads the natives, creates the environment and disables telemetry; not in a one-shot command (framework
     * property {@code arbor.activation=on-demand}), where the first {@link #environment()} call does it, so that
     * commands that run no model ({@code arbor pipelines}, {@code arbor version}) never load ONNX Runtime.
     */
    @Activate
    void activate(BundleContext context) {
        activate(context.getProperty("arbor.activation"));
    }

    /** As {@link #activate(BundleContext)} with the framework's {@code arbor.activation} (null when unset). */
    void activate(String activation) {
        if ("on-demand".equals(activation)) {
            return;
        }
        OrtEnvironment env = environment();
        EnumSet<OrtProvider> providers = OrtEnvironment.getAvailableProviders();
        LOG.info(() -> "ONNX Runtime " + env.getVersion() + " ready, telemetry off, native log level "
                + logLevel() + ", providers " + providers);
    }

    /**
     * The single ORT environment with telemetry disabled and the configured native log level; safe to call
     * repeatedly and from any thread.
     *
     * @throws IllegalStateException when the environment could crash this process, the natives cannot be loaded or
     *                               telemetry cannot be switched off
     */
    public static synchronized OrtEnvironment environment() {
        if (environment == null) {
            TelemetryGuard.check();
            OrtLoggingLevel level = logLevel();
            // the natives from the installation's cache, extracted once, rather than into a new /tmp folder each run
            boolean cached = NativeLibraryCache.prepare();
            // the level is fixed when the environment is created; sessions also get it through their options
            OrtEnvironment env;
            try {
                env = OrtEnvironment.getEnvironment(level, "arbor");
            } finally {
                if (cached) {
                    NativeLibraryCache.loaded();
                }
            }
            try {
                env.setTelemetry(false);
            } catch (OrtException e) {
                throw new IllegalStateException("could not disable ONNX Runtime telemetry: " + e.getMessage(), e);
            }
            environment = env;
        }
        return environment;
    }

    /** The severity of ONNX Runtime's own log lines, for the environment and for each session's options. */
    public static OrtLoggingLevel logLevel() {
        return NativeLogLevel.ort();
    }
}
