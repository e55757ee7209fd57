package dev.arbor.models.llama2c;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;

/**
 * A quick (not a benchmark) single-stream greedy tokens/s of a llama2.c checkpoint's graphs (or of a seeded random
 * model of llama2.c's stories15M shape, {@code random-15M}): reference fp32, fused fp32, int8 and int4 with several
 * MatMulNBits settings, at intra-op threads 1 and 2, each the best of three runs of {@code tokens} decode steps
 * after an 8-token prefill. Drives the graphs like the tests do (fused: shared
 * KV buffer, pinned outputs; reference: present fed back as past). Usage (docs/engine.md):
 * {@code java -cp <test classpath> dev.arbor.models.llama2c.FusedDecodeTiming <checkpoint | random-15M> [tokens]
 * [allow_spinning 0|1|-] [NO_OPT|BASIC_OPT|EXTENDED_OPT|ALL_OPT] [label filter]}.
 */
public final class FusedDecodeTiming {
    private static final int[] PROMPT = {1, 403, 407, 261, 378, 432, 383, 286};

    private static final java.lang.management.ThreadMXBean THREADS =
            java.lang.management.ManagementFactory.getThreadMXBean();

    private FusedDecodeTiming() {
    }

    public static void main(String[] args) throws OrtException, IOException {
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 300;
        String spinning = args.length > 2 && !args[2].equals("-") ? args[2] : null;
        OrtSession.SessionOptions.OptLevel level = args.length > 3
                ? OrtSession.SessionOptions.OptLevel.valueOf(args[3]) : OrtSession.SessionOptions.OptLevel.ALL_OPT;
        String only = args.length > 4 ? args[4] : null;
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        env.setTelemetry(false);
        Llama2cCheckpoint w;
        Llama2cModelCard card;
        if (args[0].equals("random-15M")) {
            // llama2.c's stories15M shape with seeded random weights (speed only: its output means nothing).
            w = Llama2cCheckpoint.random(new Llama2cConfig(288, 768, 6, 6, 6, 32000, 256, true), 15);
            card = new Llama2cModelCard("random-15M", OptionalInt.of(1), new int[] {1}, OptionalInt.empty(),
                    OptionalInt.empty(), LogitAlignment.NEXT, NativeAttention.CAUSAL, 0, "");
        } else {
            Path checkpoint = Path.of(args[0]);
            w = Llama2cCheckpoint.read(checkpoint);
            card = Llama2cModelCard.forCheckpoint(checkpoint);
        }
        List<String> labels = new ArrayList<>();
        List<byte[]> models = new ArrayList<>();
        labels.add("reference fp32");
        models.add(Llama2cOnnxConverter.toOnnx(w, 0, "timing", card, Llama2cPrecision.REFERENCE_FP32));
        labels.add("fused fp32");
        models.add(Llama2cOnnxConverter.toOnnx(w, 0, "timing", card, Llama2cPrecision.FUSED_FP32));
        Object[][] variants = {
                {Llama2cPrecision.FUSED_INT8, new Llama2cFusedGraph.Quantization(4, 32, false)},
                {Llama2cPrecision.FUSED_INT8, new Llama2cFusedGraph.Quantization(0, 32, false)},
                {Llama2cPrecision.FUSED_INT4, new Llama2cFusedGraph.Quantization(4, 32, false)},
                {Llama2cPrecision.FUSED_INT4, new Llama2cFusedGraph.Quantization(4, 32, true)},
                {Llama2cPrecision.FUSED_INT4, new Llama2cFusedGraph.Quantization(4, 16, true)},
                {Llama2cPrecision.FUSED_INT4, new Llama2cFusedGraph.Quantization(0, 32, true)}};
        for (Object[] v : variants) {
            Llama2cPrecision p = (Llama2cPrecision) v[0];
            Llama2cFusedGraph.Quantization q = (Llama2cFusedGraph.Quantization) v[1];
            labels.add("fused " + p.precision() + " acc " + q.accuracyLevel() + " block " + q.blockSize()
                    + (q.asymmetric() ? " asym" : " sym"));
            models.add(Llama2cOnnxConverter.toFusedOnnx(w, card, p, q));
        }
        for (int threads : new int[] {1, 2}) {
            for (int i = 0; i < models.size(); i++) {
                OrtSession.SessionOptions o = new OrtSession.SessionOptions();
                if (only != null && !labels.get(i).contains(only)) {
                    continue;
                }
                o.setIntraOpNumThreads(threads);
                o.setOptimizationLevel(level);
                if (spinning != null) {
                    o.addConfigEntry("session.intra_op.allow_spinning", spinning);
                }
                double best = 0;
                double bestCpu = 0;
                try (OrtSession s = env.createSession(models.get(i), o)) {
                    for (int repeat = 0; repeat < 3; repeat++) {
                        long cpu0 = THREADS.getCurrentThreadCpuTime();
                        double perSecond = labels.get(i).startsWith("reference") ? reference(env, s, tokens)
                                : fused(env, s, tokens);
                        double cpuSeconds = (THREADS.getCurrentThreadCpuTime() - cpu0) / 1e9;
                        best = Math.max(best, perSecond);
                        bestCpu = Math.max(bestCpu, (tokens + 1) / cpuSeconds);
                    }
                }
                // With one intra-op thread ONNX Runtime computes on the calling thread, so its CPU time is the
                // work itself and holds up on a loaded machine, where wall-clock figures swing.
                System.out.printf("%-36s threads %d: %8.0f tokens/s wall%s%n", labels.get(i), threads, best,
                        threads == 1 ? String.format(", %8.0f tokens per CPU-second", bestCpu) : "");
            }
        }
    }

    private static double fused(OrtEnvironment env, OrtSession s, int tokens) throws OrtException {
        try (FusedGraphDecoder d = new FusedGraphDecoder(env, s, 1)) {
            int token = Stories260K.argmax(d.step(new int[][] {PROMPT}, new int[] {PROMPT.length})[0][7]);
            long t0 = System.nanoTime();
            for (int i = 0; i < tokens; i++) {
                token = Stories260K.argmax(d.next(token)[0]);
            }
            return tokens / ((System.nanoTime() - t0) / 1e9);
        }
    }

    private static double reference(OrtEnvironment env, OrtSession s, int tokens) throws OrtException {
        try (ReferenceGraphDecoder d = ReferenceGraphDecoder.of(env, s)) {
            int n = PROMPT.length;
            float[][][] pre = d.step(new int[][] {PROMPT}, new int[][] {Llama2cFusedGraphTest.iota(0, n)},
                    Llama2cOnnxConverterTest.causal(n, 0));
            int token = Stories260K.argmax(pre[0][n - 1]);
            long t0 = System.nanoTime();
            for (int i = 0; i < tokens; i++) {
                int pos = n + i;
                token = Stories260K.argmax(d.step(new int[][] {{token}}, new int[][] {{pos}},
                        new float[pos + 1])[0][0]);
            }
            return tokens / ((System.nanoTime() - t0) / 1e9);
        }
    }
}
