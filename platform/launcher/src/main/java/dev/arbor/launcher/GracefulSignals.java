package dev.arbor.launcher;

/**
 * Stops the runtime on SIGTERM and SIGINT <em>before</em> the JVM begins to shut down. JVM shutdown hooks all run at
 * once, in no order: native libraries release their state in theirs (ONNX Runtime's environment, which crashed the
 * JVM under a generation still running) and java.util.logging closes its handlers in its own, so a framework stopped
 * from a hook can neither finish in-flight requests nor log that it does. Handling the signal itself, the launcher
 * stops the framework first (the HTTP server drains), then exits with 128 + the signal number as the JVM would.
 */
final class GracefulSignals {
    private static volatile int received;

    private GracefulSignals() {
    }

    /**
     * Runs {@code stop} then exits on SIGTERM and SIGINT; false where signals cannot be handled (a JVM started with
     * -Xrs, or one without sun.misc.Signal): a shutdown hook must stop the runtime there.
     */
    static boolean install(Runnable stop) {
        try {
            handle("TERM", 15, stop);
            handle("INT", 2, stop);
            return true;
        } catch (IllegalArgumentException | LinkageError unsupported) {
            return false;
        }
    }

    /** 128 + the signal that stopped the runtime, or {@code status} when none did. */
    static int exitStatus(int status) {
        int signal = received;
        return signal == 0 ? status : 128 + signal;
    }

    private static void handle(String name, int number, Runnable stop) {
        sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> {
            if (received != 0) {
                return; // a second Ctrl-C while stopping: the first one's stop is under way
            }
            received = number;
            // a thread of its own: the JVM's signal dispatcher must stay free for further signals
            Thread stopping = new Thread(() -> {
                stop.run();
                System.exit(128 + number);
            }, "arbor-stop-on-SIG" + name);
            stopping.start();
        });
    }
}
