package dev.arbor.platform.oip.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferResponse;
import dev.arbor.platform.oip.InferenceModel;
import dev.arbor.platform.oip.Tensor;
import dev.arbor.platform.oip.TensorSpec;
import dev.arbor.platform.oip.grpc.GRPCInferenceServiceGrpc;
import dev.arbor.platform.oip.grpc.InferParameter;
import dev.arbor.platform.oip.grpc.InferTensorContents;
import dev.arbor.platform.oip.grpc.ModelInferRequest;
import dev.arbor.platform.oip.grpc.ModelInferResponse;
import dev.arbor.platform.oip.grpc.ModelMetadataRequest;
import dev.arbor.platform.oip.grpc.ModelMetadataResponse;
import dev.arbor.platform.oip.grpc.ModelReadyRequest;
import dev.arbor.platform.oip.grpc.ServerLiveRequest;
import dev.arbor.platform.oip.grpc.ServerMetadataRequest;
import dev.arbor.platform.oip.grpc.ServerReadyRequest;
import dev.arbor.platform.oip.server.PipelineModel;
import dev.arbor.platform.oip.server.ServedModels;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The gRPC front end with a real grpc-java client over loopback TCP. */
class GrpcInferenceServiceTest {
    private RecordingPipelines pipelines = new RecordingPipelines();
    private final List<InferenceModel> registered = new ArrayList<>();
    private final ServingStateComponent state = new ServingStateComponent();
    private ScheduledExecutorService timer;
    private Server server;
    private ManagedChannel channel;
    private InferenceGrpcService service;

    /** Starts a server over the fake pipelines with {@code config} (as configuration dev.arbor.http would hold). */
    private GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub start(Map<String, Object> config)
            throws Exception {
        Map<String, Object> all = new HashMap<>(Map.of("grpc_port", 0, "max_tokens", 100, "max_prompt_tokens", 64));
        all.putAll(config);
        Settings settings = Settings.from(all);
        timer = Executors.newSingleThreadScheduledExecutor();
        state.configure(all);
        Supplier<Collection<InferenceModel>> models = () -> registered;
        ServedModels served = new ServedModels(models, pipelines, PipelineModel.Limits.of(settings.maxTokens(),
                settings.maxPromptTokens(), settings.maxPromptBytes()));
        service = new InferenceGrpcService(served, state, settings, "1.2.3", timer);
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .maxInboundMessageSize(settings.maxMessageBytes());
        server = (settings.apiKey() == null ? builder.addService(service)
                : builder.addService(ServerInterceptors.intercept(service, new ApiKeyInterceptor(settings.apiKey()))))
                .build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        return GRPCInferenceServiceGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void stop() throws InterruptedException {
        pipelines.release.countDown();
        if (channel != null) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        if (server != null) {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        if (timer != null) {
            timer.shutdownNow();
        }
    }

    private static InferParameter p(Object v) {
        return ProtoTensors.parameter(v);
    }

    private static ModelInferRequest.InferInputTensor texts(String name, String... texts) {
        InferTensorContents.Builder c = InferTensorContents.newBuilder();
        for (String t : texts) {
            c.addBytesContents(ByteString.copyFromUtf8(t));
        }
        return ModelInferRequest.InferInputTensor.newBuilder().setName(name).setDatatype("BYTES")
                .addShape(texts.length).setContents(c).build();
    }

    private static List<String> strings(ModelInferResponse.InferOutputTensor t) {
        return t.getContents().getBytesContentsList().stream().map(ByteString::toStringUtf8).toList();
    }

    private static ModelInferResponse.InferOutputTensor output(ModelInferResponse r, String name) {
        return r.getOutputsList().stream().filter(o -> o.getName().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void healthAndMetadata() throws Exception {
        var stub = start(Map.of());
        assertThat(stub.serverLive(ServerLiveRequest.getDefaultInstance()).getLive()).isTrue();
        assertThat(stub.serverReady(ServerReadyRequest.getDefaultInstance()).getReady()).isTrue();
        assertThat(stub.modelReady(ModelReadyRequest.newBuilder().setName("echo").build()).getReady()).isTrue();
        assertThat(stub.modelReady(ModelReadyRequest.newBuilder().setName("broken").build()).getReady()).isFalse();
        assertThat(stub.serverMetadata(ServerMetadataRequest.getDefaultInstance()).getName()).isEqualTo("arbor");
        assertThat(stub.serverMetadata(ServerMetadataRequest.getDefaultInstance()).getVersion()).isEqualTo("1.2.3");
        ModelMetadataResponse meta = stub.modelMetadata(ModelMetadataRequest.newBuilder().setName("echo").build());
        assertThat(meta.getPlatform()).isEqualTo("arbor-pipeline");
        assertThat(meta.getInputsList()).extracting(ModelMetadataResponse.TensorMetadata::getName,
                ModelMetadataResponse.TensorMetadata::getDatatype, ModelMetadataResponse.TensorMetadata::getShapeList)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("text_input", "BYTES", List.of(-1L)),
                        org.assertj.core.groups.Tuple.tuple("input_ids", "INT64", List.of(-1L, -1L)));
        assertThat(meta.getOutputsList()).extracting(ModelMetadataResponse.TensorMetadata::getName)
                .containsExactly("text_output", "output_ids");
        assertStatus(() -> stub.modelMetadata(ModelMetadataRequest.newBuilder().setName("nope").build()),
                Status.Code.NOT_FOUND, "unknown model 'nope'; ready models: echo, slow");
        assertStatus(() -> stub.modelReady(ModelReadyRequest.newBuilder().setName("echo").setVersion("7").build()),
                Status.Code.NOT_FOUND, "model 'echo' has no version '7'");
    }

    @Test
    void infersABatchOfTextsWithParametersMappedToOptions() throws Exception {
        var stub = start(Map.of());
        ModelInferResponse r = stub.modelInfer(ModelInferRequest.newBuilder().setModelName("echo").setId("req-1")
                .addInputs(texts("text_input", "abc", "hello"))
                .putParameters("max_tokens", p(9L)).putParameters("temperature", p(0.5))
                .putParameters("seed", p(40L)).putParameters("stop", p("\n"))
                .putParameters("arbor.processors", p("top-k, greenlist")).putParameters("arbor.num_beams", p(2L))
                .build());
        assertThat(r.getModelName()).isEqualTo("echo");
        assertThat(r.getId()).isEqualTo("req-1");
        assertThat(strings(output(r, "text_output"))).containsExactly("cba", "olleh");
        ModelInferResponse.InferOutputTensor ids = output(r, "output_ids");
        assertThat(ids.getShapeList()).containsExactly(2L, 5L);
        // the shorter completion is padded with -1
        assertThat(ids.getContents().getInt64ContentsList()).containsExactly((long) 'c', (long) 'b', (long) 'a',
                -1L, -1L, (long) 'o', (long) 'l', (long) 'l', (long) 'e', (long) 'h');
        assertThat(r.getParametersMap().get("completion_tokens").getInt64Param()).isEqualTo(8);
        assertThat(pipelines.requests).hasSize(2);
        var first = pipelines.requests.get(0);
        assertThat(first.prompt()).isEqualTo("abc");
        assertThat(first.stop()).containsExactly("\n");
        assertThat(first.processors()).extracting(dev.arbor.api.pipeline.PartRef::name)
                .containsExactly("top-k", "greenlist");
        assertThat(first.options().asMap()).containsEntry("max_tokens", 9).containsEntry("temperature", 0.5)
                .containsEntry("seed", 40L).containsEntry("num_beams", 2L).containsKey("timeout_ms");
        // as the OpenAI routes do for n: prompt i of a batch uses seed + i
        assertThat(pipelines.requests.get(1).options().asMap()).containsEntry("seed", 41L);
    }

    @Test
    void infersTokenIdsSentAsRawContents() throws Exception {
        var stub = start(Map.of());
        ByteBuffer raw = ByteBuffer.allocate(3 * 8).order(ByteOrder.LITTLE_ENDIAN).putLong(5).putLong(6).putLong(7);
        ModelInferResponse r = stub.modelInfer(ModelInferRequest.newBuilder().setModelName("echo")
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("input_ids").setDatatype("INT64")
                        .addShape(1).addShape(3))
                .addRawInputContents(ByteString.copyFrom(raw.array()))
                .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("output_ids")).build());
        assertThat(r.getOutputsList()).extracting(ModelInferResponse.InferOutputTensor::getName)
                .containsExactly("output_ids");
        assertThat(output(r, "output_ids").getContents().getInt64ContentsList()).containsExactly(6L, 7L, 8L);
        assertThat(pipelines.requests.get(0).inputIds()).containsExactly(5, 6, 7);
        // BYTES as raw contents: a 4-byte little-endian length before each element
        byte[] hi = "hi".getBytes(StandardCharsets.UTF_8);
        ByteBuffer bytes = ByteBuffer.allocate(4 + hi.length).order(ByteOrder.LITTLE_ENDIAN).putInt(hi.length).put(hi);
        ModelInferResponse t = stub.modelInfer(ModelInferRequest.newBuilder().setModelName("echo")
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("text_input").setDatatype("BYTES")
                        .addShape(1))
                .addRawInputContents(ByteString.copyFrom(bytes.array())).build());
        assertThat(strings(output(t, "text_output"))).containsExactly("ih");
    }

    @Test
    void hostileInputsAreInvalidArgumentsNamingTheField() throws Exception {
        var stub = start(Map.of());
        ModelInferRequest.Builder base = ModelInferRequest.newBuilder().setModelName("echo");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", "a").toBuilder()
                .setDatatype("INT32").setContents(InferTensorContents.newBuilder().addIntContents(1))).build()),
                Status.Code.INVALID_ARGUMENT, "inputs[0].datatype: input 'text_input' of model 'echo' is BYTES,"
                        + " got INT32");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", "a").toBuilder()
                .clearShape().addShape(2)).build()), Status.Code.INVALID_ARGUMENT,
                "inputs[0].contents.bytes_contents: holds 1 elements; the shape holds 2");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", "a").toBuilder()
                .clearShape().addShape(1_000_000L).addShape(1_000_000L)).build()), Status.Code.INVALID_ARGUMENT,
                "inputs[0].shape: shape [1000000, 1000000] holds more than this server's limit");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", "a").toBuilder()
                .clearShape().addShape(-3)).build()), Status.Code.INVALID_ARGUMENT,
                "inputs[0].shape[0]: a dimension must be 0 or more, got -3");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("prompt", "a")).build()),
                Status.Code.INVALID_ARGUMENT, "inputs[0].name: model 'echo' has no input 'prompt'; its inputs are"
                        + " text_input, input_ids");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", "a").toBuilder()
                .setDatatype("STRING")).build()), Status.Code.INVALID_ARGUMENT, "inputs[0].datatype: unknown"
                + " datatype 'STRING'");
        assertStatus(() -> stub.modelInfer(base.clone().build()), Status.Code.INVALID_ARGUMENT,
                "inputs: give the prompts as 'text_input'");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", "a"))
                .putParameters("temperature", p("hot")).build()), Status.Code.INVALID_ARGUMENT,
                "parameters.temperature: must be a number, got a string (hot)");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", "a"))
                .putParameters("max_tokens", p(101L)).build()), Status.Code.INVALID_ARGUMENT,
                "parameters.max_tokens: is 101, more than this server's limit of 100");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", "a"))
                .putParameters("beams", p(2L)).build()), Status.Code.INVALID_ARGUMENT,
                "parameters.beams: unknown parameter");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", "a"))
                .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("logits")).build()),
                Status.Code.INVALID_ARGUMENT, "outputs[0].name: model 'echo' has no output 'logits'");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", "x".repeat(65))).build()),
                Status.Code.INVALID_ARGUMENT, "prompt 0 has 65 tokens, more than this server's limit of 64");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", "a").toBuilder()
                .clearContents()).build()), Status.Code.INVALID_ARGUMENT, "inputs[0].contents.bytes_contents:"
                + " holds 0 elements; the shape holds 1");
        String[] seventeen = new String[17];
        java.util.Arrays.fill(seventeen, "a");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(texts("text_input", seventeen)).build()),
                Status.Code.INVALID_ARGUMENT, "inputs[0].shape: a request carries 1 to 16 prompts, got 17");
        assertStatus(() -> stub.modelInfer(base.clone().addInputs(ModelInferRequest.InferInputTensor.newBuilder()
                .setName("input_ids").setDatatype("INT64").addShape(1).addShape(2).setContents(
                        InferTensorContents.newBuilder().addInt64Contents(4).addInt64Contents(-1))).build()),
                Status.Code.INVALID_ARGUMENT, "inputs[0].data[1]: a token id is 0 or more, got -1");
        assertStatus(() -> stub.modelInfer(base.clone().setModelName("nope").addInputs(texts("text_input", "a"))
                .build()), Status.Code.NOT_FOUND, "unknown model 'nope'");
        assertThat(pipelines.requests).isEmpty();
    }

    @Test
    void servesRegisteredModelsBeforePipelinesOfTheSameName() throws Exception {
        registered.add(new InferenceModel() {
            @Override
            public String name() {
                return "echo";
            }

            @Override
            public String platform() {
                return "test-sum";
            }

            @Override
            public List<TensorSpec> inputs() {
                return List.of(new TensorSpec("x", "INT64", List.of(-1L)));
            }

            @Override
            public List<TensorSpec> outputs() {
                return List.of(new TensorSpec("sum", "INT64", List.of(1L)));
            }

            @Override
            public boolean ready() {
                return true;
            }

            @Override
            public InferResponse infer(InferRequest request) {
                long sum = java.util.Arrays.stream((long[]) request.input("x").data()).sum();
                return new InferResponse(name(), "", request.id(), Map.of(), List.of(new Tensor("sum", "INT64",
                        List.of(1L), new long[] {sum}, null)));
            }
        });
        var stub = start(Map.of());
        ModelInferResponse r = stub.modelInfer(ModelInferRequest.newBuilder().setModelName("echo")
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("x").setDatatype("INT64")
                        .addShape(3).setContents(InferTensorContents.newBuilder().addInt64Contents(1)
                                .addInt64Contents(2).addInt64Contents(39))).build());
        assertThat(output(r, "sum").getContents().getInt64ContentsList()).containsExactly(42L);
        assertThat(stub.modelMetadata(ModelMetadataRequest.newBuilder().setName("echo").build()).getPlatform())
                .isEqualTo("test-sum");
    }

    @Test
    void requiresTheApiKeyExceptForHealthChecks() throws Exception {
        var stub = start(Map.of("api_key", "s3cret"));
        assertThat(stub.serverLive(ServerLiveRequest.getDefaultInstance()).getLive()).isTrue();
        assertThat(stub.serverReady(ServerReadyRequest.getDefaultInstance()).getReady()).isTrue();
        ModelInferRequest req = ModelInferRequest.newBuilder().setModelName("echo")
                .addInputs(texts("text_input", "ab")).build();
        assertStatus(() -> stub.modelInfer(req), Status.Code.UNAUTHENTICATED, "missing API key");
        Metadata wrong = new Metadata();
        wrong.put(ApiKeyInterceptor.AUTHORIZATION, "Bearer S3cret");
        assertStatus(() -> stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(wrong)).modelInfer(req),
                Status.Code.UNAUTHENTICATED, "incorrect API key");
        Metadata right = new Metadata();
        right.put(ApiKeyInterceptor.AUTHORIZATION, "Bearer s3cret");
        assertThat(strings(output(stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(right))
                .modelInfer(req), "text_output"))).containsExactly("ba");
    }

    @Test
    void aCallPastItsDeadlineIsCancelledAndItsWorkerInterrupted() throws Exception {
        var stub = start(Map.of());
        ModelInferRequest req = ModelInferRequest.newBuilder().setModelName("slow")
                .addInputs(texts("text_input", "ab")).build();
        assertStatus(() -> stub.withDeadlineAfter(300, TimeUnit.MILLISECONDS).modelInfer(req),
                Status.Code.DEADLINE_EXCEEDED, "");
        assertThat(pipelines.slowInterrupted.await(10, TimeUnit.SECONDS)).isTrue();
        // the server's own deadline (request_timeout_ms) stops a call whose client set none
        stop();
        pipelines = new RecordingPipelines();
        var stub2 = start(Map.of("request_timeout_ms", 300));
        assertStatus(() -> stub2.modelInfer(req), Status.Code.DEADLINE_EXCEEDED, "deadline");
        assertThat(pipelines.slowInterrupted.await(10, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void drainTurnsReadinessFalseFirstThenRefusesNewCallsWhileRunningOnesFinish() throws Exception {
        var stub = start(Map.of("drain_delay_ms", 600_000));
        ModelInferRequest echo = ModelInferRequest.newBuilder().setModelName("echo")
                .addInputs(texts("text_input", "ab")).build();
        CompletableFuture<ModelInferResponse> running = CompletableFuture.supplyAsync(() -> stub.modelInfer(
                ModelInferRequest.newBuilder().setModelName("slow").addInputs(texts("text_input", "xy")).build()));
        assertThat(pipelines.slowStarted.await(10, TimeUnit.SECONDS)).isTrue();
        state.beginDrain("test");
        // first: not ready, while calls are still served (balancers need the delay to stop sending)
        assertThat(stub.serverReady(ServerReadyRequest.getDefaultInstance()).getReady()).isFalse();
        assertThat(stub.serverLive(ServerLiveRequest.getDefaultInstance()).getLive()).isTrue();
        assertThat(strings(output(stub.modelInfer(echo), "text_output"))).containsExactly("ba");
        // then, once the delay has passed: new calls refused with a retry hint, the running one finishes
        state.configure(Map.of("drain_delay_ms", 0));
        assertThat(state.refusing()).isTrue();
        StatusRuntimeException refused = org.junit.jupiter.api.Assertions.assertThrows(
                StatusRuntimeException.class, () -> stub.modelInfer(echo));
        assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(refused.getStatus().getDescription()).contains("the server is stopping");
        assertThat(refused.getTrailers().get(InferenceGrpcService.RETRY_AFTER)).isEqualTo("5");
        pipelines.release.countDown();
        assertThat(strings(output(running.get(10, TimeUnit.SECONDS), "text_output"))).containsExactly("yx");
    }

    private static void assertStatus(org.assertj.core.api.ThrowableAssert.ThrowingCallable call, Status.Code code,
                                     String message) {
        assertThatThrownBy(call).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(code);
            assertThat(e.getStatus().getDescription() == null ? "" : e.getStatus().getDescription())
                    .contains(message);
        });
    }
}
