package dev.arbor.backend.remote;

import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferResponse;
import dev.arbor.platform.oip.InferenceException;

/**
 * The client's connection to one served model: {@code ModelInfer} calls, each bounded by its request's deadline
 * ({@link InferRequest#deadlineMillis()}) and cancelled when the calling thread is interrupted. Thread-safe.
 */
interface OipChannel extends AutoCloseable {

    /** The served model's platform as its metadata declares it ({@code ModelMetadata}), within {@code timeoutMillis}. */
    String platform(long timeoutMillis) throws InferenceException;

    /** Runs one inference; a failure of the transport is an {@link InferenceException} UNAVAILABLE or DEADLINE. */
    InferResponse infer(InferRequest request) throws InferenceException;

    /** Releases the connection; idempotent. */
    @Override
    void close();
}
