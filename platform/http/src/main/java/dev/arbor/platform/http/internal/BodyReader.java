package dev.arbor.platform.http.internal;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.thread.Scheduler;

/**
 * Reads request bodies without holding a thread while their bytes trickle in: chunks are taken as Jetty delivers
 * them (it calls back when more arrive), the total is capped at {@code max_body_bytes} (413) and the whole body must
 * arrive within {@code body_timeout_ms} (408). A client sending a byte now and then thus costs a connection and a
 * buffer, never one of the server's threads, and is cut off at the deadline.
 */
final class BodyReader {
    private final long maxBytes;
    private final long timeoutMillis;
    private final Scheduler scheduler;
    private final Executor executor;

    /** {@code executor} runs what follows a timeout (the 408), so that the scheduler's thread never blocks. */
    BodyReader(long maxBytes, long timeoutMillis, Scheduler scheduler, Executor executor) {
        this.maxBytes = maxBytes;
        this.timeoutMillis = timeoutMillis;
        this.scheduler = scheduler;
        this.executor = executor;
    }

    /**
     * The whole body of {@code request}; fails with an {@link ApiError}: 413 past the size limit, 408 past the
     * deadline or the connection's idle timeout, 400 when the body ends early (the client closed the connection).
     */
    CompletableFuture<byte[]> read(Request request) {
        long declared = request.getLength();
        if (declared > maxBytes) {
            return CompletableFuture.failedFuture(tooLarge(declared, maxBytes));
        }
        Reading reading = new Reading(request, declared);
        Scheduler.Task timer = scheduler.schedule(() -> executor.execute(
                () -> reading.result.completeExceptionally(ApiError.bodyTimeout("the request body did not arrive"
                        + " within " + timeoutMillis + " ms (body_timeout_ms); send the whole body at once"))),
                timeoutMillis, TimeUnit.MILLISECONDS);
        reading.result.whenComplete((body, failure) -> timer.cancel());
        reading.run();
        return reading.result;
    }

    static ApiError tooLarge(long size, long limit) {
        return new ApiError(413, "invalid_request_error", null, "request_too_large", "the request body"
                + (size >= 0 ? " has " + size + " bytes, which is" : " is") + " larger than this server's limit of "
                + limit + " bytes (max_body_bytes)");
    }

    /** One body being read: Jetty runs it again whenever more content arrives (never two at once). */
    private final class Reading implements Runnable {
        final CompletableFuture<byte[]> result = new CompletableFuture<>();
        private final Request request;
        private final ByteArrayOutputStream bytes;
        private final byte[] copy = new byte[8192];

        Reading(Request request, long declared) {
            this.request = request;
            this.bytes = new ByteArrayOutputStream(declared > 0 ? (int) declared : 1024);
        }

        @Override
        public void run() {
            while (!result.isDone()) {
                Content.Chunk chunk = request.read();
                if (chunk == null) {
                    request.demand(this); // no thread waits: Jetty calls run() again when bytes arrive
                    return;
                }
                if (Content.Chunk.isFailure(chunk)) {
                    Throwable failure = chunk.getFailure();
                    result.completeExceptionally(failure instanceof TimeoutException
                            ? ApiError.bodyTimeout("the request body stopped arriving for longer than the"
                                    + " connection's idle timeout; send the whole body at once")
                            : ApiError.bodyAborted(failure));
                    return;
                }
                boolean last = chunk.isLast();
                try {
                    ByteBuffer buffer = chunk.getByteBuffer();
                    if (bytes.size() + (long) buffer.remaining() > maxBytes) {
                        result.completeExceptionally(tooLarge(-1, maxBytes));
                        return;
                    }
                    while (buffer.hasRemaining()) {
                        int n = Math.min(copy.length, buffer.remaining());
                        buffer.get(copy, 0, n);
                        bytes.write(copy, 0, n);
                    }
                } finally {
                    chunk.release();
                }
                if (last) {
                    result.complete(bytes.toByteArray());
                    return;
                }
            }
        }
    }
}
