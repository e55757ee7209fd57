package dev.arbor.launcher;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The levels of the runtime's logs (java.util.logging, to stderr). The command's output is the product, so the
 * project's own logs show WARNING and above unless {@code ARBOR_LOG_LEVEL} (or system property
 * {@code arbor.log.level}; e.g. INFO, FINE) asks for more. The native engines' logs (ONNX Runtime's own log lines,
 * DJL / PyTorch) are one step quieter, so that their routine warnings stay out of a user's way, unless
 * {@code ARBOR_NATIVE_LOG_LEVEL} (or {@code arbor.native.log.level}) sets them explicitly; the resolved native level is
 * published as system property {@code arbor.native.log.level} for the ONNX Runtime bundle, which applies it as ORT's
 * own severity. Changes to the code that runs (bundles installed, updated, uninstalled or refused after launch,
 * logger {@value BundleTrust#AUDIT_LOGGER}) are shown at INFO whatever the project's level, unless it is OFF.
 */
final class LogLevels {
    /** Loggers of the native engines' Java sides (DJL logs through slf4j to java.util.logging). */
    static final List<String> NATIVE_LOGGERS = List.of("ai.djl", "ai.onnxruntime");
    static final String NATIVE_PROPERTY = "arbor.native.log.level";
    /** java.util.logging holds loggers weakly: a level set on a logger nobody references would be forgotten. */
    private static final List<Logger> HELD = new ArrayList<>();

    private LogLevels() {
    }

    /** Applies the levels from {@code env} and the system properties; returns {project, native}. */
    static Level[] apply(Map<String, String> env) {
        Level project = parse(first(System.getProperty("arbor.log.level"), env.get("ARBOR_LOG_LEVEL")),
                Level.WARNING);
        Level nativeLevel = parse(first(System.getProperty(NATIVE_PROPERTY), env.get("ARBOR_NATIVE_LOG_LEVEL")),
                quieter(project));
        System.setProperty(NATIVE_PROPERTY, nativeLevel.getName());
        Logger root = Logger.getLogger("");
        root.setLevel(project);
        Level shown = project.intValue() <= nativeLevel.intValue() ? project : nativeLevel;
        for (Handler h : root.getHandlers()) {
            h.setLevel(shown);
        }
        synchronized (HELD) {
            for (String name : NATIVE_LOGGERS) {
                Logger logger = Logger.getLogger(name);
                logger.setLevel(nativeLevel);
                HELD.add(logger);
            }
        }
        if (project != Level.OFF && project.intValue() > Level.INFO.intValue()) {
            Logger audit = Logger.getLogger(BundleTrust.AUDIT_LOGGER);
            java.util.logging.ConsoleHandler handler = new java.util.logging.ConsoleHandler();
            handler.setLevel(Level.INFO);
            audit.setLevel(Level.INFO);
            audit.setUseParentHandlers(false);
            audit.addHandler(handler);
            synchronized (HELD) {
                HELD.add(audit);
            }
        }
        return new Level[] {project, nativeLevel};
    }

    /** One step quieter than {@code level}: debugging levels (FINE and below) show everything asked for. */
    static Level quieter(Level level) {
        int v = level.intValue();
        if (v <= Level.FINE.intValue()) {
            return level;
        }
        if (v <= Level.INFO.intValue()) {
            return Level.WARNING;
        }
        if (v <= Level.WARNING.intValue()) {
            return Level.SEVERE;
        }
        return Level.OFF;
    }

    private static String first(String a, String b) {
        return a != null && !a.isBlank() ? a : b;
    }

    private static Level parse(String value, Level otherwise) {
        if (value == null || value.isBlank()) {
            return otherwise;
        }
        try {
            return Level.parse(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            System.err.println("arbor: ignoring unknown log level '" + value + "'; use SEVERE, WARNING, INFO, FINE,"
                    + " FINER or FINEST");
            return otherwise;
        }
    }
}
