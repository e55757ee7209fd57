package dev.arbor.benchmarks.engine;

import java.lang.management.ManagementFactory;
import java.util.HashMap;
import java.util.Map;

/**
 * Heap bytes allocated by every live thread of the JVM between two points, from HotSpot's per-thread allocation
 * counters ({@code com.sun.management.ThreadMXBean#getThreadAllocatedBytes}, the same TLAB accounting JFR's
 * {@code jdk.ThreadAllocationStatistics} reports). Summing over all threads catches whichever thread runs the decode
 * (the caller or a pool thread); a thread that starts and ends between the two points is missed, which the decode
 * path does not do (its threads are pooled).
 */
public final class AllocationMeter {
    private final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private Map<Long, Long> start;

    public AllocationMeter() {
        if (!threads.isThreadAllocatedMemorySupported()) {
            throw new IllegalStateException("this JVM does not count allocated bytes per thread");
        }
        threads.setThreadAllocatedMemoryEnabled(true);
    }

    /** Marks the starting point. */
    public void start() {
        start = snapshot();
    }

    /** Bytes allocated by all threads since {@link #start()}. */
    public long bytesSinceStart() {
        Map<Long, Long> end = snapshot();
        long total = 0;
        for (Map.Entry<Long, Long> e : end.entrySet()) {
            total += e.getValue() - start.getOrDefault(e.getKey(), 0L);
        }
        return total;
    }

    private Map<Long, Long> snapshot() {
        long[] ids = threads.getAllThreadIds();
        long[] bytes = threads.getThreadAllocatedBytes(ids);
        Map<Long, Long> out = new HashMap<>();
        for (int i = 0; i < ids.length; i++) {
            if (bytes[i] >= 0) {
                out.put(ids[i], bytes[i]);
            }
        }
        return out;
    }
}
