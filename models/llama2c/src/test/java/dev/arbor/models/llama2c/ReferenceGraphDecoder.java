package dev.arbor.models.llama2c;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.HashMap;
import java.util.Map;

/**
 * Drives the reference graph: feeds the present tensors of each call back as the past of the next (the KV cache
 * stays in ONNX Runtime).
 */
final class ReferenceGraphDecoder implements AutoCloseable {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final int layers;
    private final int kvHeads;
    private final int headDim;
    private OrtSession.Result last;

    ReferenceGraphDecoder(OrtEnvironment env, OrtSession session, int layers, int kvHeads, int headDim) {
        this.env = env;
        this.session = session;
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
    }

    /** A decoder whose layer count and KV shape come from the graph's {@code arbor.*} metadata. */
    static ReferenceGraphDecoder of(OrtEnvironment env, OrtSession session) throws OrtException {
        Map<String, String> meta = session.getMetadata().getCustomMetadata();
        return new ReferenceGraphDecoder(env, session, Integer.parseInt(meta.get("arbor.num_layers")),
                Integer.parseInt(meta.get("arbor.num_kv_heads")), Integer.parseInt(meta.get("arbor.head_dim")));
    }

    /** The last call's {@code present.<layer>.key} (or value), [batch, kv_heads, total, head_dim] flattened. */
    float[] present(int layer, boolean value) throws OrtException {
        FloatBuffer fb = ((OnnxTensor) last.get("present." + layer + "." + (value ? "value" : "key")).orElseThrow())
                .getFloatBuffer();
        float[] out = new float[fb.remaining()];
        fb.get(out);
        return out;
    }

    float[][][] step(int[][] ids, int[][] positions, float[] bias) throws OrtException {
        int batch = ids.length;
        int seq = ids[0].length;
        int total = bias.length / (batch * seq);
        Map<String, OnnxTensor> in = new HashMap<>();
        in.put("input_ids", longs(ids));
        in.put("position_ids", longs(positions));
        in.put("attention_bias", OnnxTensor.createTensor(env, FloatBuffer.wrap(bias),
                new long[] {batch, 1, seq, total}));
        Map<String, OnnxTensor> created = new HashMap<>(in);
        for (int l = 0; l < layers; l++) {
            for (String kind : new String[] {"key", "value"}) {
                String name = "past_key_values." + l + "." + kind;
                if (last == null) {
                    OnnxTensor empty = OnnxTensor.createTensor(env, FloatBuffer.allocate(0),
                            new long[] {batch, kvHeads, 0, headDim});
                    created.put(name, empty);
                    in.put(name, empty);
                } else {
                    in.put(name, (OnnxTensor) last.get("present." + l + "." + kind).orElseThrow());
                }
            }
        }
        OrtSession.Result result = session.run(in);
        created.values().forEach(OnnxTensor::close);
        if (last != null) {
            last.close();
        }
        last = result;
        OnnxValue logits = result.get("logits").orElseThrow();
        FloatBuffer fb = ((OnnxTensor) logits).getFloatBuffer();
        int vocab = fb.remaining() / (batch * seq);
        float[][][] out = new float[batch][seq][vocab];
        for (int b = 0; b < batch; b++) {
            for (int q = 0; q < seq; q++) {
                fb.get(out[b][q]);
            }
        }
        return out;
    }

    @Override
    public void close() {
        if (last != null) {
            last.close();
        }
    }

    private OnnxTensor longs(int[][] values) throws OrtException {
        long[] flat = new long[values.length * values[0].length];
        int i = 0;
        for (int[] row : values) {
            for (int v : row) {
                flat[i++] = v;
            }
        }
        return OnnxTensor.createTensor(env, LongBuffer.wrap(flat), new long[] {values.length, values[0].length});
    }
}
