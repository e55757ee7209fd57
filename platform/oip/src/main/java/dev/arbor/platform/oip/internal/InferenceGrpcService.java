package dev.arbor.platform.oip.internal;

import dev.arbor.api.ArborException;
import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferResponse;
import dev.arbor.platform.oip.InferenceException;
import dev.arbor.platform.oip.InferenceModel;
import dev.arbor.platform.oip.TensorSpec;
import dev.arbor.platform.oip.grpc.GRPCInferenceServiceGrpc;
import dev.arbor.platform.oip.grpc.ModelInferRequest;
import dev.arbor.platform.oip.grpc.ModelInferResponse;
import dev.arbor.platform.oip.grpc.ModelMetadataRequest;
import dev.arbor.platform.oip.grpc.ModelMetadataResponse;
import dev.arbor.platform.oip.grpc.ModelReadyRequest;
import dev.arbor.platform.oip.grpc.ModelReadyResponse;
import dev.arbor.platform.oip.grpc.ServerLiveRequest;
import dev.arbor.platform.oip.grpc.ServerLiveResponse;
import dev.arbor.platform.oip.grpc.ServerMetadataRequest;
import dev.arbor.platform.oip.grpc.ServerMetadataResponse;
import dev.arbor.platform.oip.grpc.ServerReadyRequest;
import dev.arbor.platform.oip.grpc.ServerReadyResponse;
import dev.arbor.platform.oip.server.PipelineModel;
import dev.arbor.platform.oip.server.RequestGate;
import dev.arbor.platform.oip.server.ServedModels;
import dev.arbor.platform.oip.server.ServingState;
import dev.arbor.platform.oip.server.TensorChecks;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * {@code inference.GRPCInferenceService} over the {@link ServedModels}. {@code ModelInfer} runs on the calling gRPC
 * thread once one of {@code workers} permits is free, under the shorter of the client's deadline and {@code
 * request_timeout_ms}: at the deadline, or when the client cancels, the thread is interrupted (the platform turns
 * that into the generation's cancellation) and the call ends DEADLINE_EXCEEDED or CANCELLED. Failures map as {@link
 * InferenceException} says: INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL.
 */
final class InferenceGrpcService extends GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase {
    private static final System.Logger LOG = System.getLogger("dev.arbor.oip");
    /** Trailer telling a refused client when to retry (seconds), as the HTTP routes' Retry-After does. */
    static final Metadata.Key<String> RETRY_AFTER = Metadata.Key.of("retry-after", Metadata.ASCII_STRING_MARSHALLER);
    static final String SERVER_NAME = "arbor";
    /** Seconds a refused client should wait: about as long as a restart takes (the HTTP routes' figure). */
    static final int STOPPING_RETRY_SECONDS = 5;

    private final ServedModels models;
    private final ServingState state;
    private final Settings settings;
    private final String version;
    private final Semaphore permits;
    private final RequestGate gate = new RequestGate();
    private final ScheduledExecutorService timer;

    InferenceGrpcService(ServedModels models, ServingState state, Settings settings, String version,
                         ScheduledExecutorService timer) {
        this.models = models;
        this.state = state;
        this.settings = settings;
        this.version = version;
        this.permits = new Semaphore(settings.workers(), true);
        this.timer = timer;
    }

    RequestGate gate() {
        return gate;
    }

    @Override
    public void serverLive(ServerLiveRequest request, StreamObserver<ServerLiveResponse> out) {
        // answering at all means the framework and this bundle are up
        out.onNext(ServerLiveResponse.newBuilder().setLive(true).build());
        out.onCompleted();
    }

    @Override
    public void serverReady(ServerReadyRequest request, StreamObserver<ServerReadyResponse> out) {
        out.onNext(ServerReadyResponse.newBuilder().setReady(models.ready(state) && !gate.closed()).build());
        out.onCompleted();
    }

    @Override
    public void modelReady(ModelReadyRequest request, StreamObserver<ModelReadyResponse> out) {
        answer(out, () -> ModelReadyResponse.newBuilder()
                .setReady(model(request.getName(), request.getVersion()).ready()).build());
    }

    @Override
    public void serverMetadata(ServerMetadataRequest request, StreamObserver<ServerMetadataResponse> out) {
        out.onNext(ServerMetadataResponse.newBuilder().setName(SERVER_NAME).setVersion(version).build());
        out.onCompleted();
    }

    @Override
    public void modelMetadata(ModelMetadataRequest request, StreamObserver<ModelMetadataResponse> out) {
        answer(out, () -> {
            InferenceModel m = model(request.getName(), request.getVersion());
            ModelMetadataResponse.Builder b = ModelMetadataResponse.newBuilder().setName(m.name())
                    .setPlatform(m.platform());
            if (!m.version().isEmpty()) {
                b.addVersions(m.version());
            }
            m.inputs().forEach(t -> b.addInputs(metadata(t)));
            m.outputs().forEach(t -> b.addOutputs(metadata(t)));
            return b.build();
        });
    }

    private static ModelMetadataResponse.TensorMetadata metadata(TensorSpec t) {
        return ModelMetadataResponse.TensorMetadata.newBuilder().setName(t.name()).setDatatype(t.datatype())
                .addAllShape(t.shape()).build();
    }

    @Override
    public void modelInfer(ModelInferRequest request, StreamObserver<ModelInferResponse> out) {
        if (!gate.enter()) {
            out.onError(stopping());
            return;
        }
        try {
            if (state.refusing()) {
                out.onError(stopping());
                return;
            }
            answer(out, () -> infer(request));
        } finally {
            gate.exit();
        }
    }

    private ModelInferResponse infer(ModelInferRequest request) throws InferenceException, StatusException {
        InferenceModel model = model(request.getModelName(), request.getModelVersion());
        long timeoutMillis = settings.requestTimeoutMillis();
        Deadline clientDeadline = Context.current().getDeadline();
        if (clientDeadline != null) {
            timeoutMillis = Math.min(timeoutMillis, Math.max(0, clientDeadline.timeRemaining(TimeUnit.MILLISECONDS)));
        }
        long start = System.nanoTime();
        InferRequest req = ProtoTensors.request(request, System.currentTimeMillis() + timeoutMillis,
                settings.maxMessageBytes());
        TensorChecks.against(model, req);
        boolean acquired;
        try {
            acquired = permits.tryAcquire(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("the call was cancelled while it waited for a worker")
                    .asException();
        }
        if (!acquired) {
            throw Status.UNAVAILABLE.withDescription("all " + settings.workers() + " workers of this server stayed"
                    + " busy until the call's deadline; retry later or raise 'workers'").asException(retry(1));
        }
        Thread worker = Thread.currentThread();
        Object running = new Object();
        boolean[] active = {true};
        Runnable stop = () -> {
            synchronized (running) {
                if (active[0]) {
                    worker.interrupt(); // the platform turns the interrupt into the generation's cancellation
                }
            }
        };
        Context.CancellationListener onCancel = c -> stop.run();
        Context.current().addListener(onCancel, Runnable::run);
        long left = timeoutMillis - (System.nanoTime() - start) / 1_000_000L;
        ScheduledFuture<?> cutOff = timer.schedule(stop, Math.max(0, left), TimeUnit.MILLISECONDS);
        try {
            InferResponse response = model.infer(req);
            return ProtoTensors.response(response);
        } catch (ArborException e) {
            throw PipelineModel.from(e);
        } finally {
            synchronized (running) {
                active[0] = false;
            }
            cutOff.cancel(false);
            Context.current().removeListener(onCancel);
            permits.release();
            if (Thread.interrupted()) {
                // the interrupt was this call's cancellation; the pooled thread goes on clean
                if (Context.current().isCancelled()) {
                    LOG.log(System.Logger.Level.DEBUG, "a ModelInfer call was cancelled by its client");
                }
            }
        }
    }

    /** The model served under {@code name} (and {@code version}, when given); NOT_FOUND naming the ready ones. */
    private InferenceModel model(String name, String version) throws InferenceException {
        InferenceModel m = models.find(name).orElseThrow(() -> new InferenceException(
                InferenceException.Status.NOT_FOUND, "unknown model '" + name + "'; ready models: "
                + models.readyNames()));
        if (!version.isEmpty() && !version.equals(m.version())) {
            throw new InferenceException(InferenceException.Status.NOT_FOUND, "model '" + name + "' has no version '"
                    + version + "'" + (m.version().isEmpty() ? " (it is unversioned: leave the version empty)"
                    : "; it serves version '" + m.version() + "'"));
        }
        return m;
    }

    private interface Call<T> {
        T run() throws InferenceException, StatusException;
    }

    /** Runs {@code call} and answers its result or its failure as a gRPC status. */
    private <T> void answer(StreamObserver<T> out, Call<T> call) {
        T result;
        try {
            result = call.run();
        } catch (StatusException e) {
            out.onError(e);
            return;
        } catch (InferenceException e) {
            out.onError(status(e));
            return;
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "a gRPC inference call failed", e);
            out.onError(Status.INTERNAL.withDescription("internal error: " + e).asException());
            return;
        }
        out.onNext(result);
        out.onCompleted();
    }

    /** The gRPC status of a model's failure, as {@link InferenceException}'s javadoc maps it. */
    static StatusException status(InferenceException e) {
        if (e.status() == InferenceException.Status.INTERNAL) {
            LOG.log(System.Logger.Level.WARNING, "a model failed: " + e.getMessage(), e.getCause());
        }
        Status s = switch (e.status()) {
            case INVALID -> Status.INVALID_ARGUMENT;
            case NOT_FOUND -> Status.NOT_FOUND;
            case UNAVAILABLE -> Status.UNAVAILABLE;
            case DEADLINE -> Status.DEADLINE_EXCEEDED;
            case INTERNAL -> Status.INTERNAL;
        };
        return s.withDescription(e.getMessage()).asException(e.status() == InferenceException.Status.UNAVAILABLE
                ? retry(1) : new Metadata());
    }

    static StatusException stopping() {
        return Status.UNAVAILABLE.withDescription("the server is stopping; retry on another instance or after the"
                + " restart").asException(retry(STOPPING_RETRY_SECONDS));
    }

    private static Metadata retry(int seconds) {
        Metadata trailers = new Metadata();
        trailers.put(RETRY_AFTER, Integer.toString(seconds));
        return trailers;
    }
}
