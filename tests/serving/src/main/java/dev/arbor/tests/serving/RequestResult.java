package dev.arbor.tests.serving;

/**
 * One streaming request as the client saw it. Times are {@link System#nanoTime()} values so that callers can
 * place a request relative to events of their own (a strategy swap, a bundle update).
 *
 * @param client       which client issued it (0..concurrency-1)
 * @param prompt       the prompt sent
 * @param startNanos   just before the request was sent
 * @param firstTokenNanos when the first non-empty text arrived (0 if none did)
 * @param endNanos     when the stream ended or failed
 * @param status       the HTTP status (0 when no response arrived)
 * @param outcome      the verdict
 * @param problem      what was wrong, empty when OK
 * @param text         the concatenated text
 * @param finishReason the stream's finish reason (null if none)
 * @param tokens       generated tokens (usage, or non-empty chunks when the server sent no usage)
 */
public record RequestResult(int client, String prompt, long startNanos, long firstTokenNanos, long endNanos,
                            int status, Outcome outcome, String problem, String text, String finishReason,
                            int tokens) {

    public long latencyNanos() {
        return endNanos - startNanos;
    }

    /** Time to first token, or -1 when no text arrived. */
    public long timeToFirstTokenNanos() {
        return firstTokenNanos == 0 ? -1 : firstTokenNanos - startNanos;
    }

    public boolean ok() {
        return outcome == Outcome.OK;
    }
}
