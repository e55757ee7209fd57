package dev.arbor.backend.onnxruntime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One immutable generation of the convolution state of a hybrid (LFM2) graph: one tensor per {@code past_conv.N}
 * input (aligned with {@link DecoderSignature#convPastNames}), [batch, channels, cache], in ONNX Runtime's native
 * memory. Like {@link KvBlock}, a forward never modifies it: the graph reads it and returns the next window in its
 * {@code present_conv.N} outputs, which become the next block. Unlike the KV cache, the window has a fixed size and
 * holds a summary of every token fed so far (the last {@code cache} inputs of the layer's causal convolution), so it
 * has no slots to cut: it can be shared (fork) and its rows can be copied (selectRows), but not rewound.
 */
final class ConvBlock {
    final OnnxTensor[] tensors;
    private final AtomicInteger refs = new AtomicInteger(1);

    ConvBlock(OnnxTensor[] tensors) {
        this.tensors = tensors;
    }

    /** Adds a holder; the block must still be alive. */
    ConvBlock retain() {
        if (refs.getAndIncrement() <= 0) {
            throw new IllegalStateException("convolution state already freed");
        }
        return this;
    }

    /** Drops a holder and frees the tensors with the last one. */
    void release() {
        if (refs.decrementAndGet() == 0) {
            KvBlock.closeAll(tensors);
        }
    }

    /**
     * The state of a fresh request for {@code batch} rows: zeros, as onnxruntime-genai initialises its LFM2 cache
     * (a convolution over an empty history sees zero padding before the first token).
     */
    static ConvBlock zeros(OrtEnvironment env, DecoderSignature sig, int batch) throws OrtException {
        OnnxTensor[] out = new OnnxTensor[sig.convPastNames.length];
        try {
            for (int i = 0; i < out.length; i++) {
                long[] shape = sig.convShape(i, batch);
                out[i] = OnnxTensor.createTensor(env, direct((int) (shape[0] * shape[1] * shape[2])), shape);
            }
            return new ConvBlock(out);
        } catch (OrtException | RuntimeException e) {
            KvBlock.closeAll(out);
            throw e;
        }
    }

    /**
     * A new block whose row i is row {@code rowMap[i]} of {@code src} ({@code oldBatch} rows), for every tensor;
     * copies through Java memory (beam reordering and finished-row removal, never the decode loop).
     */
    static ConvBlock gather(OrtEnvironment env, DecoderSignature sig, ConvBlock src, int oldBatch, int[] rowMap)
            throws OrtException {
        OnnxTensor[] out = new OnnxTensor[src.tensors.length];
        try {
            for (int t = 0; t < out.length; t++) {
                int row = (int) (sig.convDims[t][0] * sig.convDims[t][1]);
                float[] in = new float[oldBatch * row];
                FloatBuffer from = src.tensors[t].getFloatBuffer();
                if (from.remaining() != in.length) {
                    throw new IllegalStateException("convolution state " + sig.convPastNames[t] + " holds "
                            + from.remaining() + " values, expected " + in.length);
                }
                from.get(in);
                FloatBuffer to = direct(rowMap.length * row);
                for (int r : rowMap) {
                    to.put(in, r * row, row);
                }
                to.flip();
                out[t] = OnnxTensor.createTensor(env, to, sig.convShape(t, rowMap.length));
            }
            return new ConvBlock(out);
        } catch (OrtException | RuntimeException e) {
            KvBlock.closeAll(out);
            throw e;
        }
    }

    private static FloatBuffer direct(int floats) {
        return ByteBuffer.allocateDirect(floats * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }
}
