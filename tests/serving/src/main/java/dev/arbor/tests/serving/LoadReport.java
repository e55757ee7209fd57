package dev.arbor.tests.serving;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The results of one bounded run. Latency and time-to-first-token percentiles are nearest-rank
 * ({@link Percentiles}) over the requests that succeeded: a failed request has no meaningful latency and is counted
 * separately. Throughput is over the run's wall time, from the first request's start to the last one's end.
 *
 * @param results     every request, in completion order
 * @param wallNanos   first start to last end
 * @param concurrency the number of clients
 * @param maxInFlight the most requests outstanding at once
 */
public record LoadReport(List<RequestResult> results, long wallNanos, int concurrency, int maxInFlight) {

    public LoadReport {
        results = List.copyOf(results);
    }

    public long count(Outcome outcome) {
        return results.stream().filter(r -> r.outcome() == outcome).count();
    }

    public long ok() {
        return count(Outcome.OK);
    }

    public long failed() {
        return count(Outcome.FAILED);
    }

    public long truncated() {
        return count(Outcome.TRUNCATED);
    }

    public long malformed() {
        return count(Outcome.MALFORMED);
    }

    public long tokens() {
        return results.stream().filter(RequestResult::ok).mapToLong(RequestResult::tokens).sum();
    }

    public double tokensPerSecond() {
        return wallNanos <= 0 ? 0 : tokens() / (wallNanos / 1e9);
    }

    public double requestsPerSecond() {
        return wallNanos <= 0 ? 0 : ok() / (wallNanos / 1e9);
    }

    public long[] latenciesNanos() {
        return results.stream().filter(RequestResult::ok).mapToLong(RequestResult::latencyNanos).toArray();
    }

    public long[] timesToFirstTokenNanos() {
        return results.stream().filter(RequestResult::ok).mapToLong(RequestResult::timeToFirstTokenNanos)
                .filter(t -> t >= 0).toArray();
    }

    /** Nearest-rank latency percentile over successful requests, in milliseconds. */
    public double latencyMillis(double percentile) {
        return Percentiles.nearestRank(latenciesNanos(), percentile) / 1e6;
    }

    public double timeToFirstTokenMillis(double percentile) {
        return Percentiles.nearestRank(timesToFirstTokenNanos(), percentile) / 1e6;
    }

    /** Up to {@code limit} problems, grouped by text with their counts, for assertion messages. */
    public String problems(int limit) {
        Map<String, Integer> grouped = new TreeMap<>();
        for (RequestResult r : results) {
            if (!r.ok()) {
                grouped.merge(r.outcome() + " (HTTP " + r.status() + "): " + r.problem(), 1, Integer::sum);
            }
        }
        List<String> lines = new ArrayList<>();
        grouped.forEach((p, n) -> lines.add(n + "x " + p));
        return lines.size() <= limit ? String.join("\n", lines)
                : String.join("\n", lines.subList(0, limit)) + "\n... " + (lines.size() - limit) + " more";
    }

    public String summary() {
        return String.format(Locale.ROOT, "%d requests at concurrency %d (max in flight %d) in %.2f s: ok %d, failed %d,"
                        + " truncated %d, malformed %d; %.0f tokens/s, %.1f requests/s; latency p50 %.1f ms p99 %.1f ms;"
                        + " first token p50 %.1f ms p99 %.1f ms",
                results.size(), concurrency, maxInFlight, wallNanos / 1e9, ok(), failed(), truncated(), malformed(),
                tokensPerSecond(), requestsPerSecond(), latencyMillis(50), latencyMillis(99),
                timeToFirstTokenMillis(50), timeToFirstTokenMillis(99));
    }
}
