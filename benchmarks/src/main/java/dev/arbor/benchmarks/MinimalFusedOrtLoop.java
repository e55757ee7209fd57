package dev.arbor.benchmarks;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * The hand-written baseline for a fused llama2.c graph (GroupQueryAttention over a shared past/present buffer; fp32,
 * int8 or int4 weights): batch 1, one token per run, every tensor created once over a direct buffer and rewritten in
 * place — input ids, position, {@code seqlens_k}, the per-layer KV buffers (passed as past input and as pinned
 * present output, so GroupQueryAttention appends in place) and the logits (a pinned output). As the backend does,
 * {@code total_sequence_length} is the buffer's capacity in every call (the kernel reads each row's length from
 * {@code seqlens_k}), so {@code attention_bias} [1, 1, 1, capacity] is one zero tensor made once (plain causal). This is the fastest way ONNX Runtime's Java API runs the graph, so it bounds what an engine on ONNX Runtime
 * can reach on it.
 */
final class MinimalFusedOrtLoop implements GreedyLoop {
    private final OrtSession session;
    private final int layers;
    private final LongBuffer ids = direct(8).asLongBuffer();
    private final LongBuffer position = direct(8).asLongBuffer();
    private final IntBuffer seqlens = direct(4).asIntBuffer();
    private final IntBuffer total = direct(4).asIntBuffer();
    private final FloatBuffer logits;
    private final FloatBuffer[] kvBuffers;
    private final Map<String, OnnxTensor> inputs = new HashMap<>();
    private final Map<String, OnnxTensor> pinned = new HashMap<>();

    /** With {@code intraOpThreads} ONNX Runtime threads (0: ONNX Runtime's default, one per core). */
    MinimalFusedOrtLoop(Path onnx, int intraOpThreads) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        if (intraOpThreads > 0) {
            options.setIntraOpNumThreads(intraOpThreads);
        }
        session = env.createSession(onnx.toString(), options);
        Map<String, String> meta = session.getMetadata().getCustomMetadata();
        if (!"fused".equals(meta.get("arbor.graph"))) {
            throw new IllegalArgumentException(onnx + " is not a fused graph (metadata arbor.graph = "
                    + meta.get("arbor.graph") + ")");
        }
        layers = Integer.parseInt(meta.get("arbor.num_layers"));
        int kvHeads = Integer.parseInt(meta.get("arbor.num_kv_heads"));
        int headDim = Integer.parseInt(meta.get("arbor.head_dim"));
        int capacity = Integer.parseInt(meta.get("arbor.max_positions"));
        int vocab = Integer.parseInt(meta.get("arbor.vocab_size"));
        logits = direct(4 * vocab).asFloatBuffer();
        inputs.put("input_ids", OnnxTensor.createTensor(env, ids, new long[] {1, 1}));
        inputs.put("position_ids", OnnxTensor.createTensor(env, position, new long[] {1, 1}));
        inputs.put("seqlens_k", OnnxTensor.createTensor(env, seqlens, new long[] {1}));
        total.put(0, capacity);
        inputs.put("total_sequence_length", OnnxTensor.createTensor(env, total, new long[0]));
        if (session.getInputNames().contains("attention_bias")) {   // graphs converted before it was added lack it
            inputs.put("attention_bias", OnnxTensor.createTensor(env, direct(4 * capacity).asFloatBuffer(),
                    new long[] {1, 1, 1, capacity}));
        }
        pinned.put("logits", OnnxTensor.createTensor(env, logits, new long[] {1, 1, vocab}));
        kvBuffers = new FloatBuffer[2 * layers];
        long[] shape = {1, kvHeads, capacity, headDim};
        for (int i = 0; i < kvBuffers.length; i++) {
            kvBuffers[i] = direct(4 * kvHeads * capacity * headDim).asFloatBuffer();
            OnnxTensor kv = OnnxTensor.createTensor(env, kvBuffers[i], shape);
            String suffix = (i / 2) + (i % 2 == 0 ? ".key" : ".value");
            inputs.put("past_key_values." + suffix, kv);
            pinned.put("present." + suffix, kv);
        }
    }

    @Override
    public long[] run(int bos, int[] out) throws OrtException {
        long start = System.nanoTime();
        long firstToken = 0;
        int token = bos;
        for (int step = 0; step < out.length; step++) {
            ids.put(0, token);
            position.put(0, step);
            seqlens.put(0, step);          // GroupQueryAttention: this row's length after the call, minus 1
            session.run(inputs, Set.of(), pinned).close();
            int best = GreedyLoop.argmax(logits);
            out[step] = best;
            token = best;
            if (step == 0) {
                firstToken = System.nanoTime();
            }
        }
        return new long[] {firstToken - start, System.nanoTime() - start};
    }

    @Override
    public void close() throws OrtException {
        for (OnnxTensor t : inputs.values()) {
            t.close();
        }
        pinned.get("logits").close();   // the KV tensors are closed as inputs above
        session.close();
    }

    private static ByteBuffer direct(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
    }
}
