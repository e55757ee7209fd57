package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ByteString;
import dev.arbor.platform.oip.grpc.GRPCInferenceServiceGrpc;
import dev.arbor.platform.oip.grpc.InferParameter;
import dev.arbor.platform.oip.grpc.InferTensorContents;
import dev.arbor.platform.oip.grpc.ModelInferRequest;
import dev.arbor.platform.oip.grpc.ModelInferResponse;
import dev.arbor.platform.oip.grpc.ModelMetadataRequest;
import dev.arbor.platform.oip.grpc.ServerLiveRequest;
import dev.arbor.platform.oip.grpc.ServerReadyRequest;
import dev.arbor.testkit.framework.RuntimeHarness;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Hashtable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.osgi.framework.ServiceReference;

/**
 * The Open Inference Protocol in the assembled runtime: the oip bundle resolves with its embedded gRPC, the REST
 * routes and the gRPC server serve the default pipeline (greedy: the same text as /v1/completions), and a framework
 * stop drains in order: readiness false on both front ends while requests are still served, then 503 / UNAVAILABLE.
 */
class OipIT {
    private static final String PIPELINE = "arbor-tiny";
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private Path home;
    private RuntimeHarness runtime;
    private URI uri;
    private ManagedChannel channel;
    private GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub grpc;

    @BeforeEach
    void start() throws Exception {
        home = Files.createTempDirectory("arbor-oip-it-");
        // the default pipeline's model ships in the installation (${arbor.home}/models)
        Files.createSymbolicLink(home.resolve("models"), Path.of(System.getProperty("arbor.dist", "target/arbor"))
                .resolve("models").toAbsolutePath());
        runtime = new RuntimeHarness(home, null);
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("port", 0);
        config.put("grpc_port", 0);
        // long enough that the test sees "not ready, still serving" on a loaded machine
        config.put("drain_delay_ms", 4000);
        config.put("shutdown_grace_ms", 8000);
        uri = runtime.startHttp(config);
        ServiceReference<?>[] endpoint = {null};
        RuntimeHarness.await(() -> {
            try {
                ServiceReference<?>[] refs = runtime.context().getAllServiceReferences(null,
                        "(objectClass=dev.arbor.platform.oip.server.GrpcEndpoint)");
                endpoint[0] = refs == null ? null : refs[0];
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            return endpoint[0] != null;
        }, 20_000, () -> "the gRPC server registered no GrpcEndpoint");
        channel = NettyChannelBuilder.forAddress("127.0.0.1", (Integer) endpoint[0].getProperty("arbor.grpc.port"))
                .usePlaintext().build();
        grpc = GRPCInferenceServiceGrpc.newBlockingStub(channel);
        runtime.awaitReady(PIPELINE);
    }

    @AfterEach
    void stop() throws Exception {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        if (runtime != null) {
            runtime.close();
        }
        RuntimeHarness.deleteTree(home);
    }

    private HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(uri.resolve(path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(uri.resolve(path)).timeout(Duration.ofMinutes(2))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static final String INFER = "{\"inputs\": [{\"name\": \"text_input\", \"datatype\": \"BYTES\","
            + " \"shape\": [1], \"data\": [\"Once upon a time\"]}], \"parameters\": {\"max_tokens\": 12,"
            + " \"temperature\": 0}}";

    private ModelInferRequest grpcInfer() {
        return ModelInferRequest.newBuilder().setModelName(PIPELINE)
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("text_input").setDatatype("BYTES")
                        .addShape(1).setContents(InferTensorContents.newBuilder()
                                .addBytesContents(ByteString.copyFromUtf8("Once upon a time"))))
                .putParameters("max_tokens", InferParameter.newBuilder().setInt64Param(12).build())
                .putParameters("temperature", InferParameter.newBuilder().setDoubleParam(0).build()).build();
    }

    @Test
    void restAndGrpcServeThePipelineAsTheOpenAiRouteDoes() throws Exception {
        assertThat(get("/v2/health/live").statusCode()).isEqualTo(200);
        assertThat(get("/v2/health/ready").statusCode()).isEqualTo(200);
        JsonNode meta = JSON.readTree(get("/v2/models/" + PIPELINE).body());
        assertThat(meta.get("platform").asText()).isEqualTo("arbor-pipeline");

        HttpResponse<String> rest = post("/v2/models/" + PIPELINE + "/infer", INFER);
        assertThat(rest.statusCode()).as(rest.body()).isEqualTo(200);
        String restText = JSON.readTree(rest.body()).get("outputs").get(0).get("data").get(0).asText();
        HttpResponse<String> openAi = post("/v1/completions", "{\"model\": \"" + PIPELINE + "\", \"prompt\":"
                + " \"Once upon a time\", \"max_tokens\": 12, \"temperature\": 0}");
        assertThat(openAi.statusCode()).as(openAi.body()).isEqualTo(200);
        assertThat(restText).isNotEmpty()
                .isEqualTo(JSON.readTree(openAi.body()).get("choices").get(0).get("text").asText());

        assertThat(grpc.serverLive(ServerLiveRequest.getDefaultInstance()).getLive()).isTrue();
        assertThat(grpc.serverReady(ServerReadyRequest.getDefaultInstance()).getReady()).isTrue();
        assertThat(grpc.modelMetadata(ModelMetadataRequest.newBuilder().setName(PIPELINE).build()).getInputsCount())
                .isEqualTo(2);
        ModelInferResponse r = grpc.modelInfer(grpcInfer());
        assertThat(r.getOutputs(0).getContents().getBytesContents(0).toStringUtf8()).isEqualTo(restText);
        assertThat(r.getOutputs(1).getShape(0)).isEqualTo(1L);
        assertThat(r.getOutputs(1).getShape(1)).isBetween(1L, 12L);

        assertThatThrownBy(() -> grpc.modelInfer(grpcInfer().toBuilder().setInputs(0, grpcInfer().getInputs(0)
                .toBuilder().setDatatype("INT64")).build())).isInstanceOfSatisfying(StatusRuntimeException.class,
                e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).contains("inputs[0]");
                });
    }

    @Test
    void aFrameworkStopTurnsReadinessFalseFirstThenRefuses() throws Exception {
        // a request in flight (its body still to come) holds the drain's grace period open, so the refusals of new
        // requests can be seen before the server stops
        java.net.Socket inFlight = new java.net.Socket(uri.getHost(), uri.getPort());
        inFlight.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type:"
                + " application/json\r\nContent-Length: 1000\r\n\r\n{")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        inFlight.getOutputStream().flush();
        CompletableFuture<Void> stopping = CompletableFuture.runAsync(() -> {
            try {
                runtime.close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        RuntimeHarness.await(() -> {
            try {
                return get("/v2/health/ready").statusCode() == 400;
            } catch (Exception e) {
                return false;
            }
        }, 20_000, () -> "readiness never turned false");
        // not ready, yet still serving (the drain delay): both front ends
        assertThat(grpc.serverReady(ServerReadyRequest.getDefaultInstance()).getReady()).isFalse();
        HttpResponse<String> during = post("/v2/models/" + PIPELINE + "/infer", INFER);
        assertThat(during.statusCode()).as(during.body()).isEqualTo(200);
        // then refused with a retry hint
        RuntimeHarness.await(() -> {
            try {
                return post("/v2/models/" + PIPELINE + "/infer", INFER).statusCode() == 503;
            } catch (Exception e) {
                return false;
            }
        }, 20_000, () -> "new requests were never refused");
        HttpResponse<String> refused = post("/v1/completions", "{\"model\": \"" + PIPELINE + "\", \"prompt\":"
                + " \"a\"}");
        assertThat(refused.statusCode()).isEqualTo(503);
        assertThat(refused.headers().firstValue("Retry-After")).contains("5");
        assertThatThrownBy(() -> grpc.modelInfer(grpcInfer())).isInstanceOfSatisfying(StatusRuntimeException.class,
                e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
                    assertThat(e.getStatus().getDescription()).contains("the server is stopping");
                });
        inFlight.close();
        stopping.get(2, TimeUnit.MINUTES);
        runtime = null;
    }
}
