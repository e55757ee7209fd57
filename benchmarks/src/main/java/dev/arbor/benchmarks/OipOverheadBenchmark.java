package dev.arbor.benchmarks;

import com.google.protobuf.ByteString;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.platform.oip.grpc.GRPCInferenceServiceGrpc;
import dev.arbor.platform.oip.grpc.InferParameter;
import dev.arbor.platform.oip.grpc.InferTensorContents;
import dev.arbor.platform.oip.grpc.ModelInferRequest;
import dev.arbor.testkit.framework.RuntimeHarness;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Hashtable;
import java.util.Map;
import java.util.concurrent.Callable;
import org.osgi.framework.ServiceReference;

/**
 * Per-request cost of the front ends on a tiny pipeline: the same one-token greedy request on {@code arbor-tiny}
 * (the installation's embedded 2M model) sent sequentially, over loopback, through {@code POST /v1/completions}
 * (OpenAI), {@code POST /v2/models/arbor-tiny/infer} (Open Inference Protocol REST) and gRPC {@code ModelInfer},
 * against the pipeline service called in-process, interleaved (one request per route per round); the difference to
 * the in-process call is what a front end adds (HTTP or HTTP/2 framing, JSON or protobuf, the worker hand-off,
 * checks, the per-request log line of the HTTP routes). Prints median, p90 and mean per route.
 *
 * <p>Arguments: the installation (distribution/target/arbor), requests per route (default 500), warm-up requests
 * per route (default 100).
 */
public final class OipOverheadBenchmark {
    private static final String PIPELINE = "arbor-tiny";
    private static final String PROMPT = "Once upon a time";

    private OipOverheadBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path dist = Path.of(args[0]).toAbsolutePath();
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 500;
        int warm = args.length > 2 ? Integer.parseInt(args[2]) : 100;
        System.setProperty("arbor.dist", dist.toString());
        Path home = Files.createTempDirectory("arbor-oip-bench-");
        Files.createSymbolicLink(home.resolve("models"), dist.resolve("models"));
        try (RuntimeHarness runtime = new RuntimeHarness(home, null)) {
            Hashtable<String, Object> config = new Hashtable<>();
            config.put("port", 0);
            config.put("grpc_port", 0);
            URI uri = runtime.startHttp(config);
            ServiceReference<?>[] grpcRef = {null};
            RuntimeHarness.await(() -> {
                try {
                    ServiceReference<?>[] refs = runtime.context().getAllServiceReferences(null,
                            "(objectClass=dev.arbor.platform.oip.server.GrpcEndpoint)");
                    grpcRef[0] = refs == null ? null : refs[0];
                    return grpcRef[0] != null;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, 20_000, () -> "no gRPC server");
            runtime.awaitReady(PIPELINE);
            PipelineService pipelines = runtime.pipelines();
            HttpClient http = HttpClient.newHttpClient();
            ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1",
                    (Integer) grpcRef[0].getProperty("arbor.grpc.port")).usePlaintext().build();
            var grpc = GRPCInferenceServiceGrpc.newBlockingStub(channel);
            HttpRequest openAi = HttpRequest.newBuilder(uri.resolve("/v1/completions"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"" + PIPELINE + "\", \"prompt\": \""
                            + PROMPT + "\", \"max_tokens\": 1, \"temperature\": 0}")).build();
            HttpRequest v2 = HttpRequest.newBuilder(uri.resolve("/v2/models/" + PIPELINE + "/infer"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"inputs\": [{\"name\": \"text_input\", \"datatype\":"
                            + " \"BYTES\", \"shape\": [1], \"data\": [\"" + PROMPT + "\"]}], \"parameters\":"
                            + " {\"max_tokens\": 1, \"temperature\": 0}}")).build();
            ModelInferRequest infer = ModelInferRequest.newBuilder().setModelName(PIPELINE)
                    .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("text_input")
                            .setDatatype("BYTES").addShape(1).setContents(InferTensorContents.newBuilder()
                                    .addBytesContents(ByteString.copyFromUtf8(PROMPT))))
                    .putParameters("max_tokens", InferParameter.newBuilder().setInt64Param(1).build())
                    .putParameters("temperature", InferParameter.newBuilder().setDoubleParam(0).build()).build();
            CompletionRequest direct = new CompletionRequest(PIPELINE, PROMPT, null, java.util.List.of(), null, null,
                    Options.of(Map.of("max_tokens", 1, "temperature", 0.0)));
            Map<String, Callable<Object>> routes = new java.util.LinkedHashMap<>();
            routes.put("in-process PipelineService.complete", () -> pipelines.complete(direct, TextSink.DISCARD));
            routes.put("OpenAI POST /v1/completions", () -> check(http.send(openAi,
                    HttpResponse.BodyHandlers.ofString())));
            routes.put("OIP REST POST /v2/models/{name}/infer", () -> check(http.send(v2,
                    HttpResponse.BodyHandlers.ofString())));
            routes.put("OIP gRPC ModelInfer", () -> grpc.modelInfer(infer));
            System.out.printf("%-40s %10s %10s %10s  (%d sequential requests after %d warm-up, max_tokens 1)%n",
                    "route", "median ms", "p90 ms", "mean ms", n, warm);
            List<Callable<Object>> calls = new ArrayList<>(routes.values());
            for (int i = 0; i < warm; i++) {
                for (Callable<Object> call : calls) {
                    call.call();
                }
            }
            // the routes interleaved, one request each per round: a load change on a shared machine hits all alike
            double[][] ms = new double[calls.size()][n];
            for (int i = 0; i < n; i++) {
                for (int r = 0; r < calls.size(); r++) {
                    long t = System.nanoTime();
                    calls.get(r).call();
                    ms[r][i] = (System.nanoTime() - t) / 1e6;
                }
            }
            List<String> names = new ArrayList<>(routes.keySet());
            for (int r = 0; r < calls.size(); r++) {
                Arrays.sort(ms[r]);
                System.out.printf("%-40s %10.3f %10.3f %10.3f%n", names.get(r), ms[r][n / 2], ms[r][(int) (n * 0.9)],
                        Arrays.stream(ms[r]).average().orElse(0));
            }
            channel.shutdownNow();
        } finally {
            RuntimeHarness.deleteTree(home);
        }
    }

    private static Object check(HttpResponse<String> r) {
        if (r.statusCode() != 200) {
            throw new IllegalStateException(r.statusCode() + " " + r.body());
        }
        return r;
    }
}
