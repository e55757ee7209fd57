package dev.arbor.launcher;

/**
 * Where a start's time goes, on stderr, when {@code ARBOR_STARTUP_TRACE} is set (or {@code -Darbor.startup.trace});
 * one line per step with the milliseconds since the launcher began and since the step's own beginning.
 */
final class StartupTrace {
    private static final boolean ON = System.getenv("ARBOR_STARTUP_TRACE") != null
            || Boolean.getBoolean("arbor.startup.trace");
    private static final long BEGIN = System.nanoTime();

    private StartupTrace() {
    }

    static boolean on() {
        return ON;
    }

    /** CPU time of the whole process (all threads, JIT and GC included): on a busy machine wall time says little. */
    private static long processCpuMillis() {
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
                instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime() / 1_000_000;
        }
        return -1;
    }

    /** Reports {@code what} as done now, {@code since} (a {@link System#nanoTime()}) being when its phase began. */
    static void mark(String what, long since) {
        if (ON) {
            long now = System.nanoTime();
            System.err.printf("arbor startup: %6d ms (+%5d ms, process CPU %5d ms) %s%n", (now - BEGIN) / 1_000_000,
                    (now - since) / 1_000_000, processCpuMillis(), what);
        }
    }
}
