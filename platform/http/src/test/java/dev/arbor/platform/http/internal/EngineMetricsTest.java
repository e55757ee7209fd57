package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.backend.support.StepCoalescer;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The continuous-batching meters: what a backend's step scheduler reports shows on /metrics. */
class EngineMetricsTest {
    @Test
    void batchesAndQueueWaitsReachTheScrape() {
        ServerMetrics metrics = new ServerMetrics(MetricLabels.of(Set.of("p"), Set.of()));
        try {
            String before = metrics.scrape();
            assertThat(before).contains("arbor_engine_batch_size_count 0").contains("arbor_engine_queue_wait_seconds_count 0");
            StepCoalescer.Observer observer = metrics.batchObserver();
            observer.batch(3, 3, new long[] {1_000_000, 2_000_000, 3_000_000});
            observer.batch(1, 2, new long[] {4_000_000});
            String text = metrics.scrape();
            assertThat(text).contains("arbor_engine_batch_size_count 2").contains("arbor_engine_batch_size_sum 4")
                    .contains("arbor_engine_batch_size_max 3")
                    .contains("arbor_engine_queue_wait_seconds_count 4")
                    .contains("arbor_engine_queue_wait_seconds_sum 0.01")
                    .contains("arbor_engine_batch_size_bucket{le=\"4.0\"} 2");
        } finally {
            metrics.close();
        }
    }
}
