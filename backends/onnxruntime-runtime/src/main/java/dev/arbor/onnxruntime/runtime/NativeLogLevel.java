package dev.arbor.onnxruntime.runtime;

import ai.onnxruntime.OrtLoggingLevel;
import java.util.Locale;
import java.util.logging.Level;

/**
 * The level at which ONNX Runtime's own (native) log lines are printed. ONNX Runtime writes them to standard error
 * itself (its Java API offers no way to route them into java.util.logging), so the project's choice is applied as
 * ONNX Runtime's severity. The level comes from system property {@value #PROPERTY} (a java.util.logging level name,
 * which the launcher sets from {@code ARBOR_NATIVE_LOG_LEVEL}, else one step above {@code ARBOR_LOG_LEVEL}); without
 * it, SEVERE: ONNX Runtime's warnings are not printed unless asked for.
 */
public final class NativeLogLevel {
    /** System property holding the native log level (java.util.logging level name). */
    public static final String PROPERTY = "arbor.native.log.level";

    private NativeLogLevel() {
    }

    /** The configured native level (SEVERE when unset or unreadable). */
    public static Level configured() {
        String value = System.getProperty(PROPERTY);
        if (value == null || value.isBlank()) {
            return Level.SEVERE;
        }
        try {
            return Level.parse(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return Level.SEVERE;
        }
    }

    /** ONNX Runtime's severity for a java.util.logging level: the least severe ORT level that the JUL level shows. */
    public static OrtLoggingLevel ort(Level level) {
        int v = level.intValue();
        if (v <= Level.FINER.intValue()) {
            return OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE;
        }
        if (v <= Level.INFO.intValue()) {
            return OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO;
        }
        if (v <= Level.WARNING.intValue()) {
            return OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING;
        }
        if (v <= Level.SEVERE.intValue()) {
            return OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
        }
        return OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
    }

    /** ONNX Runtime's severity for the configured level. */
    public static OrtLoggingLevel ort() {
        return ort(configured());
    }
}
