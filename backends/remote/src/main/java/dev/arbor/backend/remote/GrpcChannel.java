package dev.arbor.backend.remote;

import com.google.protobuf.ByteString;
import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferResponse;
import dev.arbor.platform.oip.InferenceException;
import dev.arbor.platform.oip.Tensor;
import dev.arbor.platform.oip.grpc.GRPCInferenceServiceGrpc;
import dev.arbor.platform.oip.grpc.InferParameter;
import dev.arbor.platform.oip.grpc.InferTensorContents;
import dev.arbor.platform.oip.grpc.ModelInferRequest;
import dev.arbor.platform.oip.grpc.ModelInferResponse;
import dev.arbor.platform.oip.grpc.ModelMetadataRequest;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioSocketChannel;
import io.grpc.stub.MetadataUtils;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A plaintext gRPC channel to {@code inference.GRPCInferenceService} (stubs generated from platform/oip's
 * {@code grpc_service.proto}): {@code ModelMetadata} and {@code ModelInfer} on one served model. Each call carries a
 * gRPC deadline (the request's {@link InferRequest#deadlineMillis()}); a blocking call whose thread is interrupted is
 * cancelled by grpc-java, which the server sees as a cancelled call. Inputs travel as typed contents; outputs are read
 * from typed contents or {@code raw_output_contents}, whichever the server chose.
 */
final class GrpcChannel implements OipChannel {
    /** Largest response accepted: logits of 64 rows of a 250k vocabulary. */
    static final int MAX_MESSAGE_BYTES = 64 << 20;

    private final RemoteUrl url;
    private final ManagedChannel channel;
    private final GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub stub;

    /**
     * A channel to {@code url} on the event loops of {@code group} (null: grpc-java's shared ones), sending {@code
     * apiKey} (null: none) as {@code authorization: Bearer}.
     */
    GrpcChannel(RemoteUrl url, String apiKey, EventLoopGroup group) {
        this.url = url;
        NettyChannelBuilder builder = NettyChannelBuilder.forAddress(url.host(), url.port()).usePlaintext()
                .maxInboundMessageSize(MAX_MESSAGE_BYTES);
        if (group != null) {
            builder.eventLoopGroup(group).channelType(NioSocketChannel.class);
        }
        this.channel = builder.build();
        GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub s = GRPCInferenceServiceGrpc.newBlockingStub(channel);
        if (apiKey != null) {
            Metadata headers = new Metadata();
            headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + apiKey);
            s = s.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
        }
        this.stub = s;
    }

    @Override
    public String platform(long timeoutMillis) throws InferenceException {
        try {
            return stub.withDeadlineAfter(timeoutMillis, TimeUnit.MILLISECONDS)
                    .modelMetadata(ModelMetadataRequest.newBuilder().setName(url.model()).build()).getPlatform();
        } catch (StatusRuntimeException e) {
            throw failure(e);
        }
    }

    @Override
    public InferResponse infer(InferRequest request) throws InferenceException {
        long remaining = request.deadlineMillis() - System.currentTimeMillis();
        if (remaining <= 0) {
            throw new InferenceException(InferenceException.Status.DEADLINE, "deadline passed before the call");
        }
        ModelInferResponse response;
        try {
            response = stub.withDeadlineAfter(remaining, TimeUnit.MILLISECONDS).modelInfer(toProto(request));
        } catch (StatusRuntimeException e) {
            throw failure(e);
        }
        return fromProto(response);
    }

    private ModelInferRequest toProto(InferRequest request) {
        ModelInferRequest.Builder b = ModelInferRequest.newBuilder().setModelName(url.model()).setId(request.id());
        request.parameters().forEach((k, v) -> b.putParameters(k, parameter(v)));
        for (Tensor t : request.inputs()) {
            InferTensorContents.Builder contents = InferTensorContents.newBuilder();
            if (t.data() instanceof long[] longs) {
                for (long l : longs) {
                    contents.addInt64Contents(l);
                }
            } else if (t.data() instanceof boolean[] bools) {
                for (boolean x : bools) {
                    contents.addBoolContents(x);
                }
            } else if (t.data() instanceof float[] floats) {
                for (float f : floats) {
                    contents.addFp32Contents(f);
                }
            } else {
                throw new IllegalArgumentException("input " + t.name() + " of type " + t.datatype()
                        + " is not one this client sends");
            }
            b.addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName(t.name()).setDatatype(t.datatype())
                    .addAllShape(t.shape()).setContents(contents));
        }
        for (String output : request.outputs()) {
            b.addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName(output));
        }
        return b.build();
    }

    private InferResponse fromProto(ModelInferResponse response) throws InferenceException {
        List<Tensor> outputs = new ArrayList<>();
        boolean raw = response.getRawOutputContentsCount() > 0;
        if (raw && response.getRawOutputContentsCount() != response.getOutputsCount()) {
            throw protocol("sent " + response.getRawOutputContentsCount() + " raw output contents for "
                    + response.getOutputsCount() + " outputs");
        }
        for (int i = 0; i < response.getOutputsCount(); i++) {
            ModelInferResponse.InferOutputTensor t = response.getOutputs(i);
            long n = 1;
            for (long d : t.getShapeList()) {
                if (d < 0 || d > Integer.MAX_VALUE) {
                    throw protocol("sent output " + t.getName() + " of shape " + t.getShapeList());
                }
                n *= d;
            }
            if (n > MAX_MESSAGE_BYTES) {
                throw protocol("sent output " + t.getName() + " of " + n + " elements");
            }
            Object data = raw ? fromRaw(t.getDatatype(), response.getRawOutputContents(i), (int) n, t.getName())
                    : fromContents(t.getDatatype(), t.getContents(), t.getName());
            outputs.add(new Tensor(t.getName(), t.getDatatype(), t.getShapeList(), data, Map.of()));
        }
        Map<String, Object> params = new LinkedHashMap<>();
        response.getParametersMap().forEach((k, v) -> params.put(k, value(v)));
        return new InferResponse(response.getModelName(), response.getModelVersion(), response.getId(), params,
                outputs);
    }

    private Object fromRaw(String datatype, ByteString bytes, int n, String name) throws InferenceException {
        ByteBuffer buffer = bytes.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        int width = switch (datatype) {
            case "FP32", "INT32" -> 4;
            case "INT64" -> 8;
            case "BOOL" -> 1;
            default -> throw protocol("sent output " + name + " of type " + datatype);
        };
        if (buffer.remaining() != (long) n * width) {
            throw protocol("sent " + buffer.remaining() + " raw bytes for " + n + " " + datatype + " elements of "
                    + name);
        }
        switch (datatype) {
            case "FP32" -> {
                float[] out = new float[n];
                buffer.asFloatBuffer().get(out);
                return out;
            }
            case "INT32" -> {
                int[] out = new int[n];
                buffer.asIntBuffer().get(out);
                return out;
            }
            case "INT64" -> {
                long[] out = new long[n];
                buffer.asLongBuffer().get(out);
                return out;
            }
            default -> {
                boolean[] out = new boolean[n];
                for (int i = 0; i < n; i++) {
                    out[i] = buffer.get(i) != 0;
                }
                return out;
            }
        }
    }

    private Object fromContents(String datatype, InferTensorContents c, String name) throws InferenceException {
        switch (datatype) {
            case "FP32" -> {
                float[] out = new float[c.getFp32ContentsCount()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = c.getFp32Contents(i);
                }
                return out;
            }
            case "INT64" -> {
                long[] out = new long[c.getInt64ContentsCount()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = c.getInt64Contents(i);
                }
                return out;
            }
            case "INT32" -> {
                int[] out = new int[c.getIntContentsCount()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = c.getIntContents(i);
                }
                return out;
            }
            case "BOOL" -> {
                boolean[] out = new boolean[c.getBoolContentsCount()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = c.getBoolContents(i);
                }
                return out;
            }
            default -> throw protocol("sent output " + name + " of type " + datatype);
        }
    }

    private static InferParameter parameter(Object v) {
        InferParameter.Builder p = InferParameter.newBuilder();
        if (v instanceof Boolean b) {
            p.setBoolParam(b);
        } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            p.setInt64Param(((Number) v).longValue());
        } else if (v instanceof Number n) {
            p.setDoubleParam(n.doubleValue());
        } else {
            p.setStringParam(String.valueOf(v));
        }
        return p.build();
    }

    private static Object value(InferParameter p) {
        return switch (p.getParameterChoiceCase()) {
            case BOOL_PARAM -> p.getBoolParam();
            case INT64_PARAM -> p.getInt64Param();
            case UINT64_PARAM -> p.getUint64Param();
            case DOUBLE_PARAM -> p.getDoubleParam();
            case STRING_PARAM -> p.getStringParam();
            default -> null;
        };
    }

    /** A gRPC failure as the protocol's status, the server's own message kept. */
    private InferenceException failure(StatusRuntimeException e) {
        Status s = e.getStatus();
        String message = s.getDescription() != null ? s.getDescription() : s.getCode().toString();
        InferenceException.Status status = switch (s.getCode()) {
            case INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION -> InferenceException.Status.INVALID;
            case NOT_FOUND -> InferenceException.Status.NOT_FOUND;
            case DEADLINE_EXCEEDED -> InferenceException.Status.DEADLINE;
            case UNAVAILABLE, CANCELLED, RESOURCE_EXHAUSTED, ABORTED, UNAUTHENTICATED, PERMISSION_DENIED ->
                    InferenceException.Status.UNAVAILABLE;
            default -> InferenceException.Status.INTERNAL;
        };
        if (s.getCode() == Status.Code.UNAUTHENTICATED || s.getCode() == Status.Code.PERMISSION_DENIED) {
            message = "the server refused this client's API key (model option api_key_env): " + message;
        } else if (s.getCode() == Status.Code.UNAVAILABLE && s.getCause() != null) {
            message = message + " (" + s.getCause().getMessage() + ")";
        }
        return new InferenceException(status, message, e);
    }

    private InferenceException protocol(String what) {
        return new InferenceException(InferenceException.Status.INTERNAL, "the server " + what);
    }

    /** Cancels the calls in flight and waits (briefly) for the channel to end. */
    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
