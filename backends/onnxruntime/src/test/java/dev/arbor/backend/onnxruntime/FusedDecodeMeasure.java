package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.Gpt2Fixture.argmax;

import dev.arbor.api.Options;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.backend.support.StepCoalescer;
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
        // Single stream: the graphs measured in turn, round after round, so that load changes hit each alike.
        try (ModelBackend ref = open(checkpoint, cache, "reference", threads, spinning, true);
             ModelBackend fusedOn = open(checkpoint, cache, "fused", threads, spinning, true);
             ModelBackend fusedOff = open(checkpoint, cache, "fused", threads, spinning, false)) {
            List<ModelBackend> ms = List.of(ref, fusedOn, fusedOff);
            String[] names = {"reference graph", "fused graph, batching on", "fused graph, batching off"};
            double[][] runs = new double[3][7];
            for (ModelBackend m : ms) {
                single(m, 3);
            }
            for (int r = 0; r < 7; r++) {
                for (int i = 0; i < 3; i++) {
                    runs[i][r] = single(ms.get(i), 1);
                }
            }
            for (int i = 0; i < 3; i++) {
                double[] v = runs[i].clone();
                java.util.Arrays.sort(v);
                System.out.printf("single stream, %s: median %.0f, best %.0f tokens/s (7 x %d tokens)%n", names[i],
                        v[3], v[6], TOKENS);
            }
        }
        // Concurrent streams: batching on and off in turn, 5 rounds, medians.
        try (ModelBackend on = open(checkpoint, cache, "fused", threads, spinning, true);
             ModelBackend off = open(checkpoint, cache, "fused", threads, spinning, false)) {
            concurrent(on, 4, 64); // warm-up
            concurrent(off, 4, 64);
            for (int streams : new int[] {1, 4, 16}) {
                double[][] tps = new double[2][5];
                StepCoalescer.Stats before = ((OnnxDecoderBackend) on).fused().stats();
                for (int r = 0; r < 5; r++) {
                    tps[0][r] = concurrent(on, streams, 128);
                    tps[1][r] = concurrent(off, streams, 128);
                }
                StepCoalescer.Stats after = ((OnnxDecoderBackend) on).fused().stats();
                java.util.Arrays.sort(tps[0]);
                java.util.Arrays.sort(tps[1]);
                long steps = after.steps() - before.steps();
                long batches = after.batches() - before.batches();
                System.out.printf("fused, %2d streams: batching on median %.0f (range %.0f-%.0f), off median %.0f "
                        + "(range %.0f-%.0f) tokens/s aggregate; mean batch %.2f steps, mean queue wait %.0f us%n",
                        streams, tps[0][2], tps[0][0], tps[0][4], tps[1][2], tps[1][0], tps[1][4],
                        (double) steps / batches, (after.queueWaitNanos() - before.queueWaitNanos()) / 1e3 / steps);
            }
            allocation(on, true);
            allocation(off, false);
        }
        try (ModelBackend m = open(checkpoint, cache, "reference", threads, spinning, true)) {
            allocation(m, false);
        }
        try (OnnxDecoderBackend m = (OnnxDecoderBackend) open(checkpoint, cache, "fused", threads, spinning, false)) {
            rawRunAllocation(m, threads, spinning);
        }
        // The cost of one batched run by rows (the batch's steps at 100 cached slots), through forwardTogether.
        try (OnnxDecoderBackend m = (OnnxDecoderBackend) open(checkpoint, cache, "fused", threads, spinning, true)) {
            for (int rows : new int[] {1, 4, 16}) {
                List<FusedDecodeState> states = new ArrayList<>();
                List<int[][]> tokens = new ArrayList<>();
                for (int i = 0; i < rows; i++) {
                    FusedDecodeState s = (FusedDecodeState) m.newState(1);
                    m.forward(ForwardRequest.builder(new int[][] {new int[100]}).state(s).build());
                    states.add(s);
                    tokens.add(new int[][] {{5}});
                }
                double best = Double.MAX_VALUE;
                for (int r = 0; r < 5; r++) {
                    for (FusedDecodeState s : states) {
                        s.truncate(100);
                    }
                    long t0 = System.nanoTime();
                    for (int i = 0; i < 50; i++) {
                        m.fused().forwardTogether(states, tokens);
                    }
                    best = Math.min(best, (System.nanoTime() - t0) / 50 / 1e3);
                }
                System.out.printf("one batched decode run of %2d rows: %.0f us (%.0f us per row)%n", rows, best,
                        best / rows);
                states.forEach(FusedDecodeState::close);
            }
        }
    }

    /** Heap bytes ONNX Runtime's Java API itself allocates per {@code OrtSession.run} of one decode step. */
    private static void rawRunAllocation(OnnxDecoderBackend m, String threads, String spinning) throws Exception {
        ai.onnxruntime.OrtEnvironment env = m.environment();
        DecoderSignature sig = m.signature();
        ai.onnxruntime.OrtSession.SessionOptions so = new ai.onnxruntime.OrtSession.SessionOptions();
        so.setIntraOpNumThreads(Integer.parseInt(threads));
        so.setOptimizationLevel(ai.onnxruntime.OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (!spinning.equals("default")) {
            so.addConfigEntry("session.intra_op.allow_spinning", Boolean.parseBoolean(spinning) ? "1" : "0");
        }
        try (ai.onnxruntime.OrtSession session = env.createSession(m.file().toString(), so)) {
            Map<String, ai.onnxruntime.OnnxTensor> in = new HashMap<>();
            Map<String, ai.onnxruntime.OnnxValue> pinned = new HashMap<>();
            java.nio.ByteBuffer small = java.nio.ByteBuffer.allocateDirect(64).order(java.nio.ByteOrder.nativeOrder());
            in.put("input_ids", ai.onnxruntime.OnnxTensor.createTensor(env, small.slice(0, 8)
                    .order(java.nio.ByteOrder.nativeOrder()).asLongBuffer(), new long[] {1, 1}));
            in.put("position_ids", ai.onnxruntime.OnnxTensor.createTensor(env, small.slice(8, 8)
                    .order(java.nio.ByteOrder.nativeOrder()).asLongBuffer(), new long[] {1, 1}));
            in.put("seqlens_k", ai.onnxruntime.OnnxTensor.createTensor(env, small.slice(16, 4)
                    .order(java.nio.ByteOrder.nativeOrder()).asIntBuffer(), new long[] {1}));
            int slots = m.card().maxPositions();
            in.put("total_sequence_length", ai.onnxruntime.OnnxTensor.createTensor(env, slots));
            if (sig.hasBias) {
                in.put("attention_bias", ai.onnxruntime.OnnxTensor.createTensor(env, java.nio.ByteBuffer
                        .allocateDirect(slots * 4).order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer(),
                        new long[] {1, 1, 1, slots}));
            }
            for (int i = 0; i < sig.pastNames.length; i++) {
                java.nio.FloatBuffer kv = java.nio.ByteBuffer.allocateDirect(sig.kvHeads * slots * sig.headDim * 4)
                        .order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
                ai.onnxruntime.OnnxTensor t = ai.onnxruntime.OnnxTensor.createTensor(env, kv,
                        sig.kvShape(1, slots));
                in.put(sig.pastNames[i], t);
                pinned.put(sig.presentNames[i], t);
            }
            int vocab = m.card().vocabSize();
            java.nio.FloatBuffer logits = java.nio.ByteBuffer.allocateDirect(vocab * 4)
                    .order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
            pinned.put("logits", ai.onnxruntime.OnnxTensor.createTensor(env, logits, new long[] {1, 1, vocab}));
            // A minimal greedy loop on the same graph: write id/position/length, run, argmax in place.
            double best = 0;
            float[] row = new float[vocab];
            for (int round = 0; round < 6; round++) {
                int next = 1;
                long t0 = System.nanoTime();
                for (int i = 0; i < TOKENS; i++) {
                    small.putLong(0, next);
                    small.putLong(8, i);
                    small.putInt(16, i);
                    session.run(in, pinned).close();
                    logits.get(0, row);
                    next = argmax(row);
                }
                best = Math.max(best, TOKENS / ((System.nanoTime() - t0) / 1e9));
            }
            System.out.printf("minimal ORT loop on the fused graph: %.0f tokens/s (best of 6 x %d)%n", best, TOKENS);
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
