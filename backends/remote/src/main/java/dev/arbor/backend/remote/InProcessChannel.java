package dev.arbor.backend.remote;

import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferResponse;
import dev.arbor.platform.oip.InferenceException;
import dev.arbor.platform.oip.InferenceModel;

/**
 * A channel that calls a served model in this JVM, as a front end would after decoding the wire: the unit tests'
 * transport, exercising the same requests and responses as gRPC without a socket.
 */
class InProcessChannel implements OipChannel {
    private final InferenceModel model;
    private volatile boolean closed;

    InProcessChannel(InferenceModel model) {
        this.model = model;
    }

    @Override
    public String platform(long timeoutMillis) {
        return model.platform();
    }

    @Override
    public InferResponse infer(InferRequest request) throws InferenceException {
        if (closed) {
            throw new InferenceException(InferenceException.Status.UNAVAILABLE, "the in-process channel is closed");
        }
        if (request.deadlineMillis() > 0 && System.currentTimeMillis() > request.deadlineMillis()) {
            throw new InferenceException(InferenceException.Status.DEADLINE, "deadline exceeded before the call");
        }
        return model.infer(request);
    }

    @Override
    public void close() {
        closed = true;
    }
}
