package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.Gpt2Fixture.argmax;

import dev.arbor.api.Options;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A brief measurement (not a test) of greedy decoding on a model with convolution state: ms per generated token
 * with the carried state (KV + convolution windows, one token per forward) against a full recompute (a stateless
 * forward of the whole sequence every step, the cache-free reference), on tiny-random-lfm2 and on
 * {@link TinyHybridGraph}. Median of 7 rounds after 2 warm-up rounds, the two paths alternating. Run with the test
 * class path: {@code java -cp ... dev.arbor.backend.onnxruntime.ConvStateMeasure <tiny-random-lfm2 dir> [tokens]}.
 */
public final class ConvStateMeasure {
    private ConvStateMeasure() {
    }

    public static void main(String[] args) throws Exception {
        Path lfm2 = Path.of(args[0]);
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 200;
        Path tmp = Files.createTempDirectory("conv-measure");
        Options oneThread = Options.of(java.util.Map.of("intra_op_threads", 1));
        try (OnnxDecoderBackend a = OnnxDecoderBackend.open(lfm2, oneThread, null);
             OnnxDecoderBackend b = OnnxDecoderBackend.open(TinyHybridGraph.write(tmp, 7), oneThread, null)) {
            for (OnnxDecoderBackend m : new OnnxDecoderBackend[] {a, b}) {
                int n = Math.min(tokens, m.card().maxPositions() - 8);
                int[] prompt = {0, 0, 19, 31};
                double[] cached = new double[7];
                double[] recompute = new double[7];
                int[] first = null;
                for (int r = -2; r < 7; r++) {
                    long t0 = System.nanoTime();
                    int[] c = cached(m, prompt, n);
                    long t1 = System.nanoTime();
                    int[] f = recomputed(m, prompt, n);
                    long t2 = System.nanoTime();
                    if (!Arrays.equals(c, f)) {
                        throw new AssertionError(m.card().name() + ": cached and recomputed greedy differ");
                    }
                    first = c;
                    if (r >= 0) {
                        cached[r] = (t1 - t0) / 1e6 / n;
                        recompute[r] = (t2 - t1) / 1e6 / n;
                    }
                }
                Arrays.sort(cached);
                Arrays.sort(recompute);
                System.out.printf("%s (%s): %d tokens after a %d-token prompt, greedy identical (%s...); "
                                + "carried state %.3f ms/token, full recompute %.3f ms/token (x%.1f)%n",
                        m.card().name(), m.signature().describe(), n, prompt.length,
                        Arrays.toString(Arrays.copyOf(first, 10)), cached[3], recompute[3], recompute[3] / cached[3]);
            }
        }
    }

    private static int[] cached(OnnxDecoderBackend m, int[] prompt, int n) {
        int[] out = new int[n];
        try (DecodeState state = m.newState(1)) {
            int[] next = prompt;
            for (int i = 0; i < n; i++) {
                out[i] = argmax(m.forward(ForwardRequest.builder(new int[][] {next}).state(state).lastRowOnly()
                        .build()).last(0));
                next = new int[] {out[i]};
            }
        }
        return out;
    }

    private static int[] recomputed(OnnxDecoderBackend m, int[] prompt, int n) {
        int[] seq = Arrays.copyOf(prompt, prompt.length + n);
        for (int i = 0; i < n; i++) {
            int len = prompt.length + i;
            seq[len] = argmax(m.forward(ForwardRequest.builder(new int[][] {Arrays.copyOf(seq, len)}).lastRowOnly()
                    .build()).last(0));
        }
        return Arrays.copyOfRange(seq, prompt.length, seq.length);
    }
}
