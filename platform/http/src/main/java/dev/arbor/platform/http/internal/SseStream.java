package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * A server-sent-events response written by a worker thread while the HTTP thread may cut it off at the deadline:
 * every write holds one lock, and once {@link #fail} or {@link #finish} ran, further events are refused (the worker
 * then stops generating). Headers are committed lazily with the first event, so failures before any text still get
 * a proper status code.
 */
final class SseStream {
    static final String CONTENT_TYPE = "text/event-stream; charset=utf-8";
    private static final byte[] DONE = frame("[DONE]");

    private final ReentrantLock lock = new ReentrantLock();
    private final Supplier<OutputStream> opener;
    private OutputStream out;
    private boolean closed;
    private IOException broken;

    /** {@code opener} sets the 200 status and event-stream headers and returns the body stream; called once. */
    SseStream(Supplier<OutputStream> opener) {
        this.opener = opener;
    }

    /** {@code data: <json>\n\n}; a JSON text never holds a raw newline, so one data line is the whole event. */
    static byte[] frame(String data) {
        if (data.indexOf('\n') >= 0 || data.indexOf('\r') >= 0) {
            throw new IllegalArgumentException("an SSE data line must not contain a line break");
        }
        return ("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8);
    }

    /** {@code event: <name>\ndata: <json>\n\n}: a named event (OpenAI's image streams name theirs by type). */
    static byte[] frame(String event, String data) {
        if (event.indexOf('\n') >= 0 || event.indexOf('\r') >= 0) {
            throw new IllegalArgumentException("an SSE event name must not contain a line break");
        }
        byte[] dataFrame = frame(data);
        byte[] head = ("event: " + event + "\n").getBytes(StandardCharsets.UTF_8);
        byte[] all = java.util.Arrays.copyOf(head, head.length + dataFrame.length);
        System.arraycopy(dataFrame, 0, all, head.length, dataFrame.length);
        return all;
    }

    /** Sends one named event; false when the stream is closed (cut off, finished, or the client went away). */
    boolean send(String event, JsonNode data) {
        return write(frame(event, data.toString()));
    }

    /** Sends one event; false when the stream is closed (cut off, finished, or the client went away). */
    boolean send(JsonNode event) {
        return write(frame(event.toString()));
    }

    /** False once the stream was cut off, finished or broken: a generator feeding it can stop. */
    boolean open() {
        lock.lock();
        try {
            return !closed;
        } finally {
            lock.unlock();
        }
    }

    /** True once the first event went out (errors can then only be reported in the stream). */
    boolean started() {
        lock.lock();
        try {
            return out != null;
        } finally {
            lock.unlock();
        }
    }

    /** The client's disconnection, if a write failed. */
    IOException broken() {
        lock.lock();
        try {
            return broken;
        } finally {
            lock.unlock();
        }
    }

    /** Ends a successful stream with {@code data: [DONE]}. */
    void finish() throws IOException {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            if (out == null) {
                out = opener.get();
            }
            out.write(DONE);
            closed = true;
            out.close();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Closes the stream for good: when it already started, with an error event and no [DONE] (so clients see it did
     * not complete) and returns true; when nothing was sent yet, returns false and the caller answers with a
     * status code instead (the worker can no longer start the stream either way).
     */
    boolean fail(JsonNode error) {
        lock.lock();
        try {
            if (out == null) {
                closed = true;
                return false;
            }
            if (!closed) {
                write(frame(error.toString()));
                closed = true;
                out.close();
            }
            return true;
        } catch (IOException e) {
            broken = e;
            return true;
        } finally {
            lock.unlock();
        }
    }

    private boolean write(byte[] bytes) {
        lock.lock();
        try {
            if (closed) {
                return false;
            }
            if (out == null) {
                out = opener.get();
            }
            out.write(bytes);
            out.flush();
            return true;
        } catch (IOException e) {
            broken = e;
            closed = true;
            return false;
        } finally {
            lock.unlock();
        }
    }
}
