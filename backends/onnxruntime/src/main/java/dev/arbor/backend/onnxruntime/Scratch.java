package dev.arbor.backend.onnxruntime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Reusable direct buffers behind the small per-step input tensors and the logits output of one decode state.
 * Tensors created from a direct, native-order buffer wrap it without a copy, and the logits output is a pinned
 * tensor ONNX Runtime writes into directly; so a steady decode step allocates no native or direct memory besides
 * the graph's {@code present} outputs, and only the logit rows the caller asked for are read out. Owned by one
 * state (single-threaded); a stateless forward uses a fresh one.
 */
final class Scratch implements AutoCloseable {
    ByteBuffer ids;
    ByteBuffer embeds;
    ByteBuffer positions;
    ByteBuffer mask;
    ByteBuffer bias;
    float[] biasRow = new float[0];
    private ByteBuffer logitsBuffer;
    private OnnxTensor logits;
    private long[] logitsShape;

    /** {@code buffer} when it holds {@code bytes}, else a larger one; cleared, with the limit at {@code bytes}. */
    static ByteBuffer ensure(ByteBuffer buffer, int bytes) {
        if (buffer == null || buffer.capacity() < bytes) {
            int capacity = Math.max(bytes, buffer == null ? 256 : (int) Math.min(Integer.MAX_VALUE - 8,
                    2L * buffer.capacity()));
            buffer = ByteBuffer.allocateDirect(capacity).order(ByteOrder.nativeOrder());
        }
        buffer.clear().limit(bytes);
        return buffer;
    }

    /** A float tensor of {@code shape} backed by this scratch, reused while the shape stays the same. */
    OnnxTensor logits(OrtEnvironment env, long[] shape) throws OrtException {
        if (logits != null && java.util.Arrays.equals(shape, logitsShape)) {
            return logits;
        }
        closeLogits();
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n * Float.BYTES > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("logits of shape " + java.util.Arrays.toString(shape)
                    + " exceed 2 GiB; request fewer tokens per forward");
        }
        logitsBuffer = ensure(logitsBuffer, (int) n * Float.BYTES);
        FloatBuffer view = logitsBuffer.asFloatBuffer();
        logits = OnnxTensor.createTensor(env, view, shape);
        logitsShape = shape.clone();
        return logits;
    }

    /** The data of the current logits tensor (valid after a run that wrote it). */
    FloatBuffer logitsData() {
        return logitsBuffer.asFloatBuffer();
    }

    private void closeLogits() {
        if (logits != null) {
            logits.close();
            logits = null;
            logitsShape = null;
        }
    }

    @Override
    public void close() {
        closeLogits();
    }
}
