package dev.arbor.backend.support;

import dev.arbor.api.Options;
import java.util.concurrent.TimeUnit;

/**
 * A backend's continuous-batching model options, read alike by every backend: {@value #BATCHING} (default true),
 * {@value #MAX_BATCH_ROWS} (rows one batched run takes at most) and {@value #BATCH_GATHER_US} (the coalescer's gather
 * window in microseconds, 0 = never wait). Defaults are the backend's: what suits it depends on its cost per run.
 *
 * @param enabled     whether concurrent steps are coalesced at all
 * @param maxRows     the most rows one batched run takes
 * @param gatherNanos the {@link StepCoalescer} gather window
 */
public record BatchingOptions(boolean enabled, int maxRows, long gatherNanos) {
    public static final String BATCHING = "batching";
    public static final String MAX_BATCH_ROWS = "max_batch_rows";
    public static final String BATCH_GATHER_US = "batch_gather_us";

    /**
     * The options in {@code options}, with the backend's defaults for rows and gather window.
     *
     * @throws dev.arbor.api.ArborException INVALID_INPUT naming the option and its allowed range
     */
    public static BatchingOptions from(Options options, int defaultRows, long defaultGatherMicros) {
        return new BatchingOptions(options.bool(BATCHING, true),
                options.integer(MAX_BATCH_ROWS, defaultRows, 1, 4096),
                TimeUnit.MICROSECONDS.toNanos(options.integer(BATCH_GATHER_US, (int) defaultGatherMicros, 0,
                        60_000_000)));
    }

    /** A coalescer with these settings, or null when batching is off. */
    public <S, R> StepCoalescer<S, R> coalescer(StepCoalescer.Policy<S> policy, StepCoalescer.BatchRunner<S, R> runner,
                                                StepCoalescer.Observer observer) {
        return enabled ? new StepCoalescer<>(policy, runner, maxRows, gatherNanos, observer) : null;
    }
}
