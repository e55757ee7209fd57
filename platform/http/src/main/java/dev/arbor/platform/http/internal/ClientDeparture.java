package dev.arbor.platform.http.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.io.AbstractEndPoint;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.Callback;

/**
 * Notices, while a request is being worked on, that its client closed the connection, so that the work can stop.
 * Jetty reads nothing from an HTTP/1.1 connection while its handler runs, so a client that leaves before a
 * non-streaming answer (or between two streamed chunks) goes unseen until the answer is written. Once the request
 * body has been read to its end, this watches the connection for readability: end of stream means the client left.
 * Data instead means a pipelined next request, whose first byte is consumed here; {@link #pipelined()} then says to
 * close the connection after this answer rather than misread that request. {@link #close()} stops watching before
 * the answer is written and the connection is handed back to Jetty; it waits for a read in progress, so that
 * {@link #pipelined()} is final once it returned. A streamed answer closes it before its last bytes go out: a
 * keep-alive client sends its next request as soon as it has them.
 */
final class ClientDeparture implements AutoCloseable {
    private final AbstractEndPoint endPoint;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicBoolean departed = new AtomicBoolean();
    private volatile boolean pipelined;
    private volatile Runnable onDeparture = () -> { };

    private ClientDeparture(AbstractEndPoint endPoint) {
        this.endPoint = endPoint;
    }

    /**
     * Starts watching {@code request}'s connection; call only once its body was read to the end. Watches nothing
     * when the connection is of a kind it cannot watch or someone already reads from it.
     */
    static ClientDeparture watch(Request request) {
        EndPoint endPoint = request.getConnectionMetaData().getConnection().getEndPoint();
        if (!(endPoint instanceof AbstractEndPoint watched)) {
            return new ClientDeparture(null);
        }
        ClientDeparture departure = new ClientDeparture(watched);
        departure.arm();
        return departure;
    }

    /** Runs {@code action} (once) when the client leaves; at once if it already left. */
    void onDeparture(Runnable action) {
        onDeparture = action;
        if (departed.get()) {
            action.run();
        }
    }

    /** True once the client closed its connection. */
    boolean departed() {
        return departed.get();
    }

    /** True when bytes of a further request arrived and were consumed: the connection must close after the answer. */
    boolean pipelined() {
        return pipelined;
    }

    private void arm() {
        if (endPoint == null || closed.get() || !endPoint.tryFillInterested(probe)) {
            return;
        }
        if (closed.get()) {
            cancelInterest();
        }
    }

    private final Callback probe = new Callback() {
        @Override
        public void succeeded() {
            int read;
            synchronized (ClientDeparture.this) {
                // exclusive with close(): once close() returned, no byte is read here any more, and one read before
                // it is already recorded in pipelined
                if (closed.get()) {
                    return;
                }
                try {
                    // a buffer with room for one byte (Jetty fills from limit to capacity)
                    read = endPoint.fill(ByteBuffer.allocate(1).limit(0));
                } catch (IOException e) {
                    read = -1;
                }
                if (read > 0) {
                    pipelined = true;
                }
            }
            if (read < 0) {
                depart();
            } else if (read == 0) {
                arm();
            }
        }

        @Override
        public void failed(Throwable x) {
            if (!closed.get() && !(x instanceof CancellationException)) {
                depart(); // the connection failed or was closed under us
            }
        }

        @Override
        public InvocationType getInvocationType() {
            return InvocationType.NON_BLOCKING;
        }
    };

    private void depart() {
        if (departed.compareAndSet(false, true)) {
            onDeparture.run();
        }
    }

    private void cancelInterest() {
        if (endPoint.isFillInterested()) {
            endPoint.getFillInterest().onFail(new CancellationException("the answer is being written"));
        }
    }

    /** Stops watching, so that Jetty can read the connection's next request; call before writing the answer. */
    @Override
    public void close() {
        if (endPoint == null) {
            return;
        }
        synchronized (this) {
            if (closed.compareAndSet(false, true)) {
                cancelInterest();
            }
        }
    }
}
