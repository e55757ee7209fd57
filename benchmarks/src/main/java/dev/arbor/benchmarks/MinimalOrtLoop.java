package dev.arbor.benchmarks;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The baseline a user could write by hand: greedy decoding of a converted llama2.c model with ONNX Runtime,
 * KV tensors fed straight back from one run to the next, nothing else. Arbor's overhead is measured against it.
 */
final class MinimalOrtLoop implements GreedyLoop {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final int layers;
    private final int kvHeads;
    private final int headDim;

    MinimalOrtLoop(Path onnx) throws OrtException {
        this(onnx, 0);
    }

    /** With {@code intraOpThreads} ONNX Runtime threads (0: ONNX Runtime's default, one per core). */
    MinimalOrtLoop(Path onnx, int intraOpThreads) throws OrtException {
        env = OrtEnvironment.getEnvironment();
        env.setTelemetry(false);
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        if (intraOpThreads > 0) {
            options.setIntraOpNumThreads(intraOpThreads);
        }
        session = env.createSession(onnx.toString(), options);
        Map<String, String> meta = session.getMetadata().getCustomMetadata();
        layers = Integer.parseInt(meta.get("arbor.num_layers"));
        kvHeads = Integer.parseInt(meta.get("arbor.num_kv_heads"));
        headDim = Integer.parseInt(meta.get("arbor.head_dim"));
    }

    @Override
    public long[] run(int bos, int[] out) throws OrtException {
        long start = System.nanoTime();
        long firstToken = 0;
        Map<String, OnnxTensor> past = new HashMap<>();
        for (int i = 0; i < layers; i++) {
            past.put("past_key_values." + i + ".key", OnnxTensor.createTensor(env, FloatBuffer.allocate(0),
                    new long[] {1, kvHeads, 0, headDim}));
            past.put("past_key_values." + i + ".value", OnnxTensor.createTensor(env, FloatBuffer.allocate(0),
                    new long[] {1, kvHeads, 0, headDim}));
        }
        OrtSession.Result previous = null;
        int token = bos;
        for (int step = 0; step < out.length; step++) {
            Map<String, OnnxTensor> inputs = new HashMap<>(past);
            OnnxTensor ids = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[] {token}), new long[] {1, 1});
            OnnxTensor pos = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[] {step}), new long[] {1, 1});
            OnnxTensor bias = OnnxTensor.createTensor(env, FloatBuffer.allocate(step + 1),
                    new long[] {1, 1, 1, step + 1});
            inputs.put("input_ids", ids);
            inputs.put("position_ids", pos);
            inputs.put("attention_bias", bias);
            OrtSession.Result result = session.run(inputs);
            ids.close();
            pos.close();
            bias.close();
            if (previous != null) {
                previous.close();
            } else {
                past.values().forEach(OnnxTensor::close);
            }
            FloatBuffer logits = ((OnnxTensor) result.get("logits").get()).getFloatBuffer();
            int best = GreedyLoop.argmax(logits);
            out[step] = best;
            token = best;
            if (step == 0) {
                firstToken = System.nanoTime();
            }
            past = new HashMap<>();
            for (int i = 0; i < layers; i++) {
                past.put("past_key_values." + i + ".key", (OnnxTensor) result.get("present." + i + ".key").get());
                past.put("past_key_values." + i + ".value",
                        (OnnxTensor) result.get("present." + i + ".value").get());
            }
            previous = result;
        }
        if (previous != null) {
            previous.close();
        }
        long end = System.nanoTime();
        return new long[] {firstToken - start, end - start};
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }

}
