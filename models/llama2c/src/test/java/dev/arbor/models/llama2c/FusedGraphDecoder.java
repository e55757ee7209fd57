package dev.arbor.models.llama2c;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Drives a fused graph the way a backend will: one KV buffer per layer and kind, [batch, kv_heads, capacity,
 * head_dim] over a direct buffer, passed as {@code past_key_values.i.*} AND as the pinned output {@code present.i.*}
 * so GroupQueryAttention writes in place. Tracks each row's length.
 */
final class FusedGraphDecoder implements AutoCloseable {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final int layers;
    private final int batch;
    private final int[] lengths;
    private final FloatBuffer[] buffers;
    private final OnnxTensor[] kv;

    FusedGraphDecoder(OrtEnvironment env, OrtSession session, int batch) throws OrtException {
        this.env = env;
        this.session = session;
        Map<String, String> meta = session.getMetadata().getCustomMetadata();
        this.layers = Integer.parseInt(meta.get("arbor.num_layers"));
        int kvHeads = Integer.parseInt(meta.get("arbor.num_kv_heads"));
        int headDim = Integer.parseInt(meta.get("arbor.head_dim"));
        int capacity = Integer.parseInt(meta.get("arbor.max_positions"));
        this.batch = batch;
        this.lengths = new int[batch];
        this.buffers = new FloatBuffer[2 * layers];
        this.kv = new OnnxTensor[2 * layers];
        long[] shape = {batch, kvHeads, capacity, headDim};
        for (int i = 0; i < kv.length; i++) {
            buffers[i] = ByteBuffer.allocateDirect(4 * batch * kvHeads * capacity * headDim)
                    .order(ByteOrder.nativeOrder()).asFloatBuffer();
            kv[i] = OnnxTensor.createTensor(env, buffers[i], shape);
        }
    }

    /** The buffer layer {@code l} keeps its keys ({@code value=false}) or values in: [batch, kv, capacity, hd]. */
    FloatBuffer buffer(int layer, boolean value) {
        return buffers[2 * layer + (value ? 1 : 0)].duplicate().clear();
    }

    int length(int row) {
        return lengths[row];
    }

    /**
     * Appends {@code ids[row][0..counts[row])} to each row (positions continue each row's length; the tail of a
     * shorter row is padding) and returns the logits [batch][seq][vocab].
     */
    float[][][] step(int[][] ids, int[] counts) throws OrtException {
        return step(ids, counts, null, null);
    }

    /**
     * As {@link #step(int[][], int[])} with explicit {@code positions} [batch][seq] (null: each row's length
     * onwards) and {@code bias} [batch, 1, seq, total] as {@code attention_bias} (null: all zeros, plain causal).
     */
    float[][][] step(int[][] ids, int[] counts, int[][] explicitPositions, float[] bias) throws OrtException {
        int seq = ids[0].length;
        long[] flatIds = new long[batch * seq];
        long[] positions = new long[batch * seq];
        int[] seqlens = new int[batch];
        int total = 0;
        for (int b = 0; b < batch; b++) {
            for (int s = 0; s < seq; s++) {
                flatIds[b * seq + s] = ids[b][s];
                positions[b * seq + s] = explicitPositions != null ? explicitPositions[b][s]
                        : lengths[b] + Math.min(s, Math.max(0, counts[b] - 1));
            }
            seqlens[b] = lengths[b] + counts[b] - 1;
            total = Math.max(total, lengths[b] + counts[b]);
        }
        float[] attentionBias = bias != null ? bias : new float[batch * seq * total];
        Map<String, OnnxTensor> in = new HashMap<>();
        Map<String, OnnxTensor> pinned = new HashMap<>();
        try (OnnxTensor idT = OnnxTensor.createTensor(env, LongBuffer.wrap(flatIds), new long[] {batch, seq});
             OnnxTensor posT = OnnxTensor.createTensor(env, LongBuffer.wrap(positions), new long[] {batch, seq});
             OnnxTensor seqT = OnnxTensor.createTensor(env, IntBuffer.wrap(seqlens), new long[] {batch});
             OnnxTensor totT = OnnxTensor.createTensor(env, IntBuffer.wrap(new int[] {total}), new long[0]);
             OnnxTensor biasT = OnnxTensor.createTensor(env, FloatBuffer.wrap(attentionBias),
                     new long[] {batch, 1, seq, total})) {
            in.put("input_ids", idT);
            in.put("position_ids", posT);
            in.put("seqlens_k", seqT);
            in.put("total_sequence_length", totT);
            in.put("attention_bias", biasT);
            for (int l = 0; l < layers; l++) {
                in.put("past_key_values." + l + ".key", kv[2 * l]);
                in.put("past_key_values." + l + ".value", kv[2 * l + 1]);
                pinned.put("present." + l + ".key", kv[2 * l]);
                pinned.put("present." + l + ".value", kv[2 * l + 1]);
            }
            try (OrtSession.Result r = session.run(in, Set.of("logits"), pinned)) {
                FloatBuffer fb = ((OnnxTensor) r.get("logits").orElseThrow()).getFloatBuffer();
                int vocab = fb.remaining() / (batch * seq);
                float[][][] out = new float[batch][seq][vocab];
                for (int b = 0; b < batch; b++) {
                    for (int s = 0; s < seq; s++) {
                        fb.get(out[b][s]);
                    }
                }
                for (int b = 0; b < batch; b++) {
                    lengths[b] += counts[b];
                }
                return out;
            }
        }
    }

    /** One token per row. */
    float[][] next(int... tokens) throws OrtException {
        int[][] ids = new int[batch][1];
        int[] counts = new int[batch];
        for (int b = 0; b < batch; b++) {
            ids[b][0] = tokens[b];
            counts[b] = 1;
        }
        float[][][] out = step(ids, counts);
        float[][] last = new float[batch][];
        for (int b = 0; b < batch; b++) {
            last[b] = out[b][0];
        }
        return last;
    }

    @Override
    public void close() {
        for (OnnxTensor t : kv) {
            t.close();
        }
    }
}
