package dev.arbor.platform.oip;

import java.util.List;

/**
 * One model served over the Open Inference Protocol: register it as an OSGi service and the REST and gRPC front
 * ends serve it under {@link #name()} (metadata, readiness and inference). Implementations are called from many
 * threads at once.
 */
public interface InferenceModel {

    /** The name clients address ({@code /v2/models/{name}}); unique among served models. */
    String name();

    /** The model's version as metadata reports it; empty for none. */
    default String version() {
        return "";
    }

    /** The platform metadata reports (the protocol's free-form {@code platform} field), e.g. {@code arbor-pipeline}. */
    String platform();

    /** The inputs a request may carry, in order. */
    List<TensorSpec> inputs();

    /** The outputs a response carries, in order. */
    List<TensorSpec> outputs();

    /** True when {@link #infer} can serve now ({@code /v2/models/{name}/ready}). */
    boolean ready();

    /**
     * Runs one inference request; the caller has checked the inputs' names, datatypes and shapes against {@link
     * #inputs()}. Throws {@link InferenceException} for a request the model refuses (a client error) or cannot
     * serve now; returns within the request's deadline or throws.
     */
    InferResponse infer(InferRequest request) throws InferenceException;
}
