package dev.arbor.launcher;

/**
 * Native libraries inside the runtime would contact the network unless told not to: DJL calls a cloud metadata
 * address for usage tracking and may download natives; these properties forbid both. ONNX Runtime's telemetry is
 * switched off where its environment is created (the ONNX Runtime bundle).
 */
final class NoPhoningHome {
    private NoPhoningHome() {
    }

    static void apply() {
        System.setProperty("OPT_OUT_TRACKING", "true");
        System.setProperty("ai.djl.offline", "true");
    }
}
