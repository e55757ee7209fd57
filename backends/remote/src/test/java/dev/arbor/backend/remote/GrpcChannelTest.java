package dev.arbor.backend.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferResponse;
import dev.arbor.platform.oip.InferenceException;
import dev.arbor.platform.oip.Tensor;
import dev.arbor.platform.oip.grpc.GRPCInferenceServiceGrpc;
import dev.arbor.platform.oip.grpc.InferParameter;
import dev.arbor.platform.oip.grpc.ModelInferRequest;
import dev.arbor.platform.oip.grpc.ModelInferResponse;
import dev.arbor.platform.oip.grpc.ModelMetadataRequest;
import dev.arbor.platform.oip.grpc.ModelMetadataResponse;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestContexts;
import dev.arbor.testkit.ToyCausalBackend;
import io.grpc.Context;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The gRPC channel on a real loopback socket, against a minimal {@code GRPCInferenceService} written here from the
 * same generated stubs (it answers logits as {@code raw_output_contents}, the other encoding the client reads): the
 * wire conversion, deadlines, cancellation by interrupt, and a server that goes away.
 */
class GrpcChannelTest {
    private final ToyCausalBackend local = ToyCausalBackend.builder().name("toy").vocabSize(40).maxPositions(128)
            .seed(3).build();
    private final ForwardModel served = new ForwardModel("toy", () -> local, () -> true, ForwardModel.Limits.DEFAULT,
            true, System::currentTimeMillis);
    /** When set, forwards wait on it (a slow server); released at the end of each test. */
    private final AtomicReference<CountDownLatch> hold = new AtomicReference<>();
    private final CountDownLatch arrived = new CountDownLatch(1);
    private final CountDownLatch cancelled = new CountDownLatch(1);
    private Server server;
    private final RemoteBackendProvider provider = new RemoteBackendProvider();

    private String start() throws Exception {
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new Service())
                .build().start();
        return "grpc://127.0.0.1:" + server.getPort() + "/toy";
    }

    @AfterEach
    void stop() {
        CountDownLatch h = hold.get();
        if (h != null) {
            h.countDown();
        }
        if (server != null) {
            server.shutdownNow();
        }
        provider.deactivate();
    }

    private ModelBackend open(String url, long forwardTimeout) {
        return provider.open(new ModelSpec(Path.of("unused"), "oip", Options.of(Map.of("url", url,
                "forward_timeout_ms", forwardTimeout, "connect_timeout_ms", 5_000L))));
    }

    @Test
    void greedyOverASocketIsTheLocalBackendsTokenForToken() throws Exception {
        String url = start();
        try (ModelBackend remote = open(url, 10_000L)) {
            assertThat(remote.card().name()).isEqualTo(url);
            int[] prompt = {1, 5, 9, 2};
            GenerationResult expected = new AutoregressiveGenerator().generate(TestContexts.context(local, prompt,
                    30, TestContexts.greedy(), new int[0], 1L, Map.of()), new RecordingSink());
            GenerationResult actual = new AutoregressiveGenerator().generate(TestContexts.context(remote, prompt,
                    30, TestContexts.greedy(), new int[0], 1L, Map.of()), new RecordingSink());
            assertThat(actual.tokens()).containsExactly(expected.tokens());
            assertThat(served.liveSequences()).isZero();
        }
    }

    @Test
    void aSlowServerMeetsTheForwardDeadlineNamingTheUrl() throws Exception {
        String url = start();
        try (ModelBackend remote = open(url, 300L)) {
            hold.set(new CountDownLatch(1));
            DecodeState state = remote.newState(1);
            assertThatThrownBy(() -> remote.forward(ForwardRequest.next(new int[][] {{1, 2}}, state)))
                    .isInstanceOf(ArborException.class)
                    .hasMessageContaining("the remote model at " + url + " did not answer in time");
        }
    }

    @Test
    void interruptingTheCallerCancelsTheCallOnTheServer() throws Exception {
        String url = start();
        try (ModelBackend remote = open(url, 60_000L)) {
            hold.set(new CountDownLatch(1));
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread caller = new Thread(() -> {
                try {
                    remote.forward(ForwardRequest.next(new int[][] {{1, 2}}, remote.newState(1)));
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            caller.start();
            assertThat(arrived.await(30, TimeUnit.SECONDS)).isTrue();
            caller.interrupt();
            caller.join(30_000L);
            assertThat(caller.isAlive()).isFalse();
            assertThat(failure.get()).isInstanceOf(ArborException.class).hasMessageContaining(url);
            assertThat(cancelled.await(30, TimeUnit.SECONDS)).as("the server saw the call cancelled").isTrue();
        }
    }

    @Test
    void aServerThatIsGoneGivesACleanErrorAndAnotherStartsWhereItWas() throws Exception {
        String url = start();
        int port = server.getPort();
        ModelBackend remote = open(url, 5_000L);
        DecodeState state = remote.newState(1);
        remote.forward(ForwardRequest.next(new int[][] {{1, 2}}, state));
        server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        assertThatThrownBy(() -> remote.forward(ForwardRequest.next(new int[][] {{3}}, state)))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.UNAVAILABLE))
                .hasMessageContaining("the remote model at " + url + " is unreachable");
        assertThatThrownBy(() -> open(url, 5_000L)).isInstanceOf(ArborException.class)
                .hasMessageContaining(url).hasMessageContaining("metadata");
        remote.close();
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port)).addService(new Service())
                .build().start();
        try (ModelBackend again = open(url, 5_000L)) {
            again.forward(ForwardRequest.next(new int[][] {{1, 2}}, again.newState(1)));
        }
    }

    /** The served model behind gRPC, converting as a front end does. */
    private final class Service extends GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase {
        @Override
        public void modelMetadata(ModelMetadataRequest request, StreamObserver<ModelMetadataResponse> out) {
            if (!request.getName().equals(served.name())) {
                out.onError(Status.NOT_FOUND.withDescription("no model " + request.getName()).asRuntimeException());
                return;
            }
            out.onNext(ModelMetadataResponse.newBuilder().setName(served.name()).setPlatform(served.platform())
                    .build());
            out.onCompleted();
        }

        @Override
        public void modelInfer(ModelInferRequest request, StreamObserver<ModelInferResponse> out) {
            Map<String, Object> params = new HashMap<>();
            request.getParametersMap().forEach((k, v) -> params.put(k, switch (v.getParameterChoiceCase()) {
                case BOOL_PARAM -> v.getBoolParam();
                case INT64_PARAM -> v.getInt64Param();
                case DOUBLE_PARAM -> v.getDoubleParam();
                default -> v.getStringParam();
            }));
            List<Tensor> inputs = new ArrayList<>();
            for (ModelInferRequest.InferInputTensor t : request.getInputsList()) {
                Object data = t.getDatatype().equals("BOOL")
                        ? toBooleans(t.getContents().getBoolContentsList())
                        : t.getContents().getInt64ContentsList().stream().mapToLong(Long::longValue).toArray();
                inputs.add(new Tensor(t.getName(), t.getDatatype(), t.getShapeList(), data, Map.of()));
            }
            CountDownLatch h = hold.get();
            if (h != null && ForwardProtocol.OP_FORWARD.equals(params.get(ForwardProtocol.OP))) {
                Context.current().addListener(c -> cancelled.countDown(), Runnable::run);
                arrived.countDown();
                try {
                    h.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            try {
                InferResponse r = served.infer(new InferRequest(request.getId(), params, inputs, List.of(), 0L));
                ModelInferResponse.Builder b = ModelInferResponse.newBuilder().setModelName(r.modelName())
                        .setId(r.id());
                r.parameters().forEach((k, v) -> b.putParameters(k, v instanceof Boolean x
                        ? InferParameter.newBuilder().setBoolParam(x).build()
                        : v instanceof Number n ? InferParameter.newBuilder().setInt64Param(n.longValue()).build()
                        : InferParameter.newBuilder().setStringParam(String.valueOf(v)).build()));
                for (Tensor t : r.outputs()) {
                    float[] f = (float[]) t.data();
                    ByteBuffer raw = ByteBuffer.allocate(f.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                    raw.asFloatBuffer().put(f);
                    b.addOutputs(ModelInferResponse.InferOutputTensor.newBuilder().setName(t.name())
                            .setDatatype(t.datatype()).addAllShape(t.shape()));
                    b.addRawOutputContents(ByteString.copyFrom(raw.array()));
                }
                out.onNext(b.build());
                out.onCompleted();
            } catch (InferenceException e) {
                out.onError((switch (e.status()) {
                    case INVALID -> Status.INVALID_ARGUMENT;
                    case NOT_FOUND -> Status.NOT_FOUND;
                    case UNAVAILABLE -> Status.UNAVAILABLE;
                    case DEADLINE -> Status.DEADLINE_EXCEEDED;
                    case INTERNAL -> Status.INTERNAL;
                }).withDescription(e.getMessage()).asRuntimeException());
            }
        }

        private static boolean[] toBooleans(List<Boolean> values) {
            boolean[] out = new boolean[values.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = values.get(i);
            }
            return out;
        }
    }
}
