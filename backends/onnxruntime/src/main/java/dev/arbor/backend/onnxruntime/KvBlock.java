package dev.arbor.backend.onnxruntime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One immutable generation of KV tensors, one per past input of the graph (aligned with
 * {@link DecoderSignature#pastNames}), living in ONNX Runtime's native memory. A decode step never modifies it: it
 * feeds these tensors as {@code past} and keeps the graph's {@code present} outputs as the next block, so the KV
 * cache is never copied into Java between steps. Because blocks are immutable, {@link OnnxDecodeState#fork()} shares
 * one by reference counting; the native memory is freed when the last state lets go of it.
 */
final class KvBlock {
    final OnnxTensor[] tensors;
    private final AtomicInteger refs = new AtomicInteger(1);

    KvBlock(OnnxTensor[] tensors) {
        this.tensors = tensors;
    }

    /** Adds a holder; the block must still be alive. */
    KvBlock retain() {
        if (refs.getAndIncrement() <= 0) {
            throw new IllegalStateException("KV block already freed");
        }
        return this;
    }

    /** Drops a holder and frees the tensors with the last one. */
    void release() {
        if (refs.decrementAndGet() == 0) {
            closeAll(tensors);
        }
    }

    static void closeAll(OnnxTensor[] tensors) {
        for (OnnxTensor t : tensors) {
            if (t != null) {
                t.close();
            }
        }
    }

    /**
     * A new block whose row i is old row {@code rowMap[i]} and whose slot j is old slot {@code slotMap[j]}, for
     * every tensor. This copies through Java memory; it serves the rare state edits (truncate, compact,
     * selectRows), never the decode loop. {@code slotMap} must be non-empty.
     */
    static KvBlock gather(OrtEnvironment env, DecoderSignature sig, KvBlock src, int oldBatch, int oldLen,
                          int[] rowMap, int[] slotMap) throws OrtException {
        int outer = sig.naming == DecoderSignature.KvNaming.GENAI ? 2 : 1;
        int mid = sig.kvHeads;
        int inner = sig.headDim;
        int newBatch = rowMap.length;
        int newLen = slotMap.length;
        boolean prefix = true;
        for (int j = 0; j < newLen && prefix; j++) {
            prefix = slotMap[j] == j;
        }
        OnnxTensor[] out = new OnnxTensor[src.tensors.length];
        try {
            float[] in = new float[outer * oldBatch * mid * oldLen * inner];
            for (int t = 0; t < out.length; t++) {
                FloatBuffer from = src.tensors[t].getFloatBuffer();
                if (from.remaining() != in.length) {
                    throw new IllegalStateException("KV tensor " + sig.pastNames[t] + " holds " + from.remaining()
                            + " values, expected " + in.length);
                }
                from.get(in);
                FloatBuffer to = ByteBuffer.allocateDirect(outer * newBatch * mid * newLen * inner * Float.BYTES)
                        .order(ByteOrder.nativeOrder()).asFloatBuffer();
                for (int o = 0; o < outer; o++) {
                    for (int b = 0; b < newBatch; b++) {
                        for (int h = 0; h < mid; h++) {
                            int base = ((o * oldBatch + rowMap[b]) * mid + h) * oldLen;
                            if (prefix) {
                                to.put(in, base * inner, newLen * inner);
                            } else {
                                for (int s : slotMap) {
                                    to.put(in, (base + s) * inner, inner);
                                }
                            }
                        }
                    }
                }
                to.flip();
                out[t] = OnnxTensor.createTensor(env, to, sig.kvShape(newBatch, newLen));
            }
            return new KvBlock(out);
        } catch (OrtException | RuntimeException e) {
            closeAll(out);
            throw e;
        }
    }
}
