package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.Gpt2Fixture.argmax;

import dev.arbor.api.Options;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A brief measurement (not a test) of the fused path on stories260K, in process: single-stream greedy tokens/s of
 * the fused fp32 graph against the reference graph, aggregate tokens/s of 1/4/16 concurrent greedy streams with
 * batching on and off, and heap bytes allocated per decode step. Run with the test class path:
 * {@code java -cp ... dev.arbor.backend.onnxruntime.FusedDecodeMeasure <stories260K.bin> <cache dir>}.
 */
public final class FusedDecodeMeasure {
    private static final int TOKENS = 256;

    private FusedDecodeMeasure() {
    }

    public static void main(String[] args) throws Exception {
        Path checkpoint = Path.of(args[0]);
        String cache = args[1];
        String threads = args.length > 2 ? args[2] : "1";
        String spinning = args.length > 3 ? args[3] : "true";
        System.out.printf("intra_op_threads=%s allow_spinning=%s%n", threads, spinning);
        for (String graph : new String[] {"reference", "fused"}) {
            try (ModelBackend m = open(checkpoint, cache, graph, threads, spinning, true)) {
                single(m, 3);
                double best = 0;
                for (int i = 0; i < 5; i++) {
                    best = Math.max(best, single(m, 1));
                }
                System.out.printf("single stream, %s graph: %.0f tokens/s (best of 5 x %d tokens)%n", graph, best,
                        TOKENS);
            }
        }
        for (boolean batching : new boolean[] {true, false}) {
            try (ModelBackend m = open(checkpoint, cache, "fused", threads, spinning, batching)) {
                concurrent(m, 4, 64); // warm-up
                for (int streams : new int[] {1, 4, 16}) {
                    double tps = concurrent(m, streams, 128);
                    System.out.printf("fused, batching=%s, %2d streams: %.0f tokens/s aggregate%s%n", batching,
                            streams, tps, batching ? ", " + ((OnnxDecoderBackend) m).fused().stats() : "");
                }
                allocation(m, batching);
            }
        }
        try (ModelBackend m = open(checkpoint, cache, "reference", threads, spinning, true)) {
            allocation(m, false);
        }
        try (OnnxDecoderBackend m = (OnnxDecoderBackend) open(checkpoint, cache, "fused", threads, spinning, false)) {
            rawRunAllocation(m);
        }
    }

    /** Heap bytes ONNX Runtime's Java API itself allocates per {@code OrtSession.run} of one decode step. */
    private static void rawRunAllocation(OnnxDecoderBackend m) throws Exception {
        ai.onnxruntime.OrtEnvironment env = m.environment();
        DecoderSignature sig = m.signature();
        try (ai.onnxruntime.OrtSession session = env.createSession(m.file().toString(),
                new ai.onnxruntime.OrtSession.SessionOptions())) {
            Map<String, ai.onnxruntime.OnnxTensor> in = new HashMap<>();
            Map<String, ai.onnxruntime.OnnxValue> pinned = new HashMap<>();
            in.put("input_ids", ai.onnxruntime.OnnxTensor.createTensor(env, new long[][] {{1}}));
            in.put("position_ids", ai.onnxruntime.OnnxTensor.createTensor(env, new long[][] {{0}}));
            in.put("seqlens_k", ai.onnxruntime.OnnxTensor.createTensor(env, new int[] {0}));
            in.put("total_sequence_length", ai.onnxruntime.OnnxTensor.createTensor(env, 1));
            int slots = m.card().maxPositions();
            for (int i = 0; i < sig.pastNames.length; i++) {
                java.nio.FloatBuffer kv = java.nio.ByteBuffer.allocateDirect(sig.kvHeads * slots * sig.headDim * 4)
                        .order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
                ai.onnxruntime.OnnxTensor t = ai.onnxruntime.OnnxTensor.createTensor(env, kv,
                        sig.kvShape(1, slots));
                in.put(sig.pastNames[i], t);
                pinned.put(sig.presentNames[i], t);
            }
            pinned.put("logits", ai.onnxruntime.OnnxTensor.createTensor(env, java.nio.ByteBuffer
                    .allocateDirect(m.card().vocabSize() * 4).order(java.nio.ByteOrder.nativeOrder())
                    .asFloatBuffer(), new long[] {1, 1, m.card().vocabSize()}));
            com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory
                    .getThreadMXBean();
            long self = Thread.currentThread().getId();
            for (int round = 0; round < 3; round++) {
                long before = mx.getThreadAllocatedBytes(self);
                for (int i = 0; i < 400; i++) {
                    session.run(in, pinned).close();
                }
                if (round == 2) {
                    System.out.printf("raw OrtSession.run (same tensors every time): %d bytes/run allocated by "
                            + "ONNX Runtime's Java API%n", (mx.getThreadAllocatedBytes(self) - before) / 400);
                }
            }
        }
    }

    private static ModelBackend open(Path checkpoint, String cache, String graph, String threads, String spinning,
                                     boolean batching) {
        Map<String, Object> o = new HashMap<>(Map.of("cache_dir", cache, "graph", graph, "intra_op_threads",
                Integer.parseInt(threads), "batching", batching));
        if (!spinning.equals("default")) {
            o.put("allow_spinning", Boolean.parseBoolean(spinning));
        }
        return new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c", Options.of(o)));
    }

    /** Greedy decode of TOKENS steps from BOS, {@code runs} times; decode tokens/s of the last run. */
    private static double single(ModelBackend m, int runs) {
        double tps = 0;
        try (DecodeState s = m.newState(1)) {
            for (int r = 0; r < runs; r++) {
                s.truncate(0);
                int next = 1;
                long t0 = System.nanoTime();
                for (int i = 0; i < TOKENS; i++) {
                    next = argmax(m.forward(ForwardRequest.next(new int[][] {{next}}, s)).last(0));
                }
                tps = TOKENS / ((System.nanoTime() - t0) / 1e9);
            }
        }
        return tps;
    }

    private static double concurrent(ModelBackend m, int streams, int tokens) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(streams);
        try {
            CyclicBarrier start = new CyclicBarrier(streams + 1);
            List<Future<?>> done = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                int id = i;
                done.add(pool.submit(() -> {
                    start.await();
                    try (DecodeState s = m.newState(1)) {
                        int next = argmax(m.forward(ForwardRequest.next(new int[][] {{1, 3 + id}}, s)).last(0));
                        for (int t = 0; t < tokens; t++) {
                            next = argmax(m.forward(ForwardRequest.next(new int[][] {{next}}, s)).last(0));
                        }
                    }
                    return null;
                }));
            }
            start.await();
            long t0 = System.nanoTime();
            for (Future<?> f : done) {
                f.get();
            }
            return (double) streams * tokens / ((System.nanoTime() - t0) / 1e9);
        } finally {
            pool.shutdownNow();
        }
    }

    /** Heap bytes the decode thread allocates per step, total and without the request and the returned logits. */
    private static void allocation(ModelBackend m, boolean batching) {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long self = Thread.currentThread().getId();
        int steps = 400;
        try (DecodeState s = m.newState(1)) {
            for (int round = 0; round < 3; round++) {
                s.truncate(0);
                int next = 1;
                long before = mx.getThreadAllocatedBytes(self);
                for (int i = 0; i < steps; i++) {
                    next = argmax(m.forward(ForwardRequest.next(new int[][] {{next}}, s)).last(0));
                }
                long total = mx.getThreadAllocatedBytes(self) - before;
                // What the caller allocates for the request (tokens, logit rows, the record) without a forward.
                before = mx.getThreadAllocatedBytes(self);
                int sink = 0;
                for (int i = 0; i < steps; i++) {
                    sink += ForwardRequest.next(new int[][] {{next}}, s).batchSize();
                }
                long request = mx.getThreadAllocatedBytes(self) - before;
                int vocab = m.card().vocabSize();
                long result = 16 + 4L * vocab + 24 + 24 + 24; // float[V], float[1][], float[1][][], ForwardResult
                if (round == 2) {
                    System.out.printf("%s graph, batching=%s: %d bytes/step allocated in all; request %d, returned "
                                    + "logits %d, backend %d (%d)%n",
                            ((OnnxDecoderBackend) m).signature().fused ? "fused" : "reference", batching,
                            total / steps, request / steps, result, total / steps - request / steps - result, sink);
                }
            }
        }
    }
}
