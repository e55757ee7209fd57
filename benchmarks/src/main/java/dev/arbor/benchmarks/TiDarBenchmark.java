package dev.arbor.benchmarks;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.generation.speculative.SpeculativeGenerator;
import dev.arbor.generation.tidar.TiDarGenerator;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * TiDAR (METHODS.md §3.10) on the forge's dual-mode model {@code arbor-tiny-tidar} on ONNX Runtime (CPU, reference
 * fp32 graph with attention bias), on the flat class path: plain autoregressive decoding against {@code tidar} with
 * draft lengths 2, 3 and 4 and against {@code speculative} with the model's own first 2 layers as draft
 * ({@code draft_layers} 2, lookahead 3), interleaved round by round in one JVM, at temperature 0 (every method's
 * output checked to equal plain greedy token for token) and at temperature 1 (softmax sampling, one seed per prompt
 * and round). Per method: tokens per forward of the model (draft forwards of the self-draft counted apart),
 * acceptance = accepted / drafted, the medians over rounds of wall milliseconds per generated token and per model
 * forward (the speculative method's time includes its draft forwards), and the speedup over plain decoding in the
 * same rounds.
 *
 * <pre>java @argfile dev.arbor.benchmarks.TiDarBenchmark MODEL_DIR [tokens] [rounds]</pre>
 * MODEL_DIR is {@code models/trained/arbor-tiny-tidar}.
 */
public final class TiDarBenchmark {
    private static final String[] PROMPTS = {"Once upon a time", "Tom and his dog", "The little girl"};

    private TiDarBenchmark() {
    }

    /** Argmax with a one-hot distribution, as the sampling bundle's greedy selector. */
    private static final TokenSelector ARGMAX = (logits, context) -> {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        float[] oneHot = new float[logits.length];
        oneHot[best] = 1f;
        double lse = logSumExp(logits);
        return new Selection(best, oneHot, logits[best] - lse, Math.exp(logits[best] - lse));
    };

    /** softmax(logits) drawn by inverse CDF on the request's RNG: temperature 1, no truncation. */
    private static final TokenSelector SOFTMAX = (logits, context) -> {
        double lse = logSumExp(logits);
        float[] p = new float[logits.length];
        double u = context.random().nextDouble();
        double c = 0;
        int chosen = -1;
        for (int i = 0; i < logits.length; i++) {
            p[i] = (float) Math.exp(logits[i] - lse);
            if (chosen < 0 && p[i] > 0) {
                c += p[i];
                if (u < c) {
                    chosen = i;
                }
            }
        }
        if (chosen < 0) {
            chosen = lastPositive(p); // u beyond the rounded total mass
        }
        return new Selection(chosen, p, logits[chosen] - lse, p[chosen]);
    };

    private static int lastPositive(float[] p) {
        for (int i = p.length - 1; i >= 0; i--) {
            if (p[i] > 0) {
                return i;
            }
        }
        return 0;
    }

    private static double logSumExp(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double s = 0;
        for (float l : logits) {
            s += Math.exp(l - max);
        }
        return max + Math.log(s);
    }

    private record Method(String name, Generator generator, Map<String, Object> options) {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : "models/trained/arbor-tiny-tidar").toAbsolutePath().normalize();
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 100;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        String name = dir.getFileName().toString();
        Path checkpoint = dir.resolve(name + ".bin");
        Llama2cTokenizer tokenizer = Llama2cTokenizer.read(dir.resolve("tokenizer.bin"), 0);
        Path cache = Files.createTempDirectory("arbor-tidar-bench");
        OnnxModels resolver = new OnnxModels(checkpoint, cache);
        ModelRef targetRef = resolver.target();
        ModelBackend model = resolver.open(targetRef);
        List<int[]> prompts = new ArrayList<>();
        for (String p : PROMPTS) {
            prompts.add(tokenizer.encode(p, true));
        }
        List<Method> methods = List.of(
                new Method("autoregressive", new AutoregressiveGenerator(), Map.of()),
                new Method("tidar, draft_length 2", new TiDarGenerator(), Map.of("draft_length", 2)),
                new Method("tidar, draft_length 3", new TiDarGenerator(), Map.of("draft_length", 3)),
                new Method("tidar, draft_length 4", new TiDarGenerator(), Map.of("draft_length", 4)),
                new Method("speculative, 2-layer self-draft, lookahead 3", new SpeculativeGenerator(),
                        Map.of("draft_layers", 2, "lookahead", 3)));
        System.out.printf(Locale.ROOT, "%s on ONNX Runtime (CPU), %d tokens per prompt, %d prompts, %d rounds + 2 "
                + "warm-up, %s%n", name, tokens, prompts.size(), rounds, model.card());
        for (double temperature : new double[] {0, 1}) {
            run(model, resolver, prompts, methods, tokens, rounds, temperature);
        }
        resolver.close();
    }

    private static void run(ModelBackend model, ModelResolver resolver, List<int[]> prompts, List<Method> methods,
                            int tokens, int rounds, double temperature) {
        TokenSelector selector = temperature == 0 ? ARGMAX : SOFTMAX;
        int warmup = 2;
        Map<String, double[]> msPerToken = new LinkedHashMap<>();
        Map<String, double[]> msPerForward = new LinkedHashMap<>();
        Map<String, long[]> counts = new LinkedHashMap<>(); // tokens, forwards, drafted, accepted, draft forwards
        methods.forEach(m -> {
            msPerToken.put(m.name(), new double[rounds]);
            msPerForward.put(m.name(), new double[rounds]);
            counts.put(m.name(), new long[5]);
        });
        int[][] reference = new int[prompts.size()][];
        for (int round = -warmup; round < rounds; round++) {
            for (Method m : methods) {
                long nanos = 0;
                long generated = 0;
                long modelForwards = 0;
                for (int p = 0; p < prompts.size(); p++) {
                    long seed = 1000L * Math.max(0, round) + p;
                    GenerationContext ctx = new GenerationContext(model, null, prompts.get(p), tokens,
                            () -> new Sampler(List.of(), selector), model.card().eosTokenIds(), seed,
                            Options.of(m.options()), Cancellation.NEVER, resolver);
                    long start = System.nanoTime();
                    GenerationResult r = m.generator().generate(ctx, TokenSink.DISCARD);
                    nanos += System.nanoTime() - start;
                    generated += r.tokens().length;
                    modelForwards += r.forwardPasses();
                    if (temperature == 0) {
                        if (m.generator() instanceof AutoregressiveGenerator) {
                            reference[p] = r.tokens();
                        } else if (!Arrays.equals(r.tokens(), reference[p])) {
                            throw new IllegalStateException(m.name() + " differs from plain greedy on prompt "
                                    + PROMPTS[p]);
                        }
                    }
                    if (round >= 0) {
                        long[] c = counts.get(m.name());
                        c[0] += r.tokens().length;
                        Map<String, Object> s = r.stats();
                        int draftForwards = s.containsKey("speculative.draft_forwards")
                                ? ((Number) s.get("speculative.draft_forwards")).intValue() : 0;
                        c[1] += r.forwardPasses(); // the model's own forwards (speculative counts target ones)
                        c[2] += s.containsKey("speculative.drafted")
                                ? ((Number) s.get("speculative.drafted")).longValue() : 0;
                        c[3] += s.containsKey("speculative.accepted")
                                ? ((Number) s.get("speculative.accepted")).longValue() : 0;
                        c[4] += draftForwards;
                    }
                }
                if (round >= 0) {
                    msPerToken.get(m.name())[round] = nanos / 1e6 / generated;
                    msPerForward.get(m.name())[round] = nanos / 1e6 / modelForwards;
                }
            }
        }
        double base = median(msPerToken.get(methods.get(0).name()));
        System.out.printf(Locale.ROOT, "%ntemperature %s%n", temperature == 0 ? "0 (greedy; every output equals "
                + "plain greedy)" : "1 (softmax sampling)");
        System.out.println("| method | tokens / model forward | draft forwards / token | acceptance | ms / token "
                + "(median) | ms / model forward (median) | speedup vs autoregressive |");
        System.out.println("|---|---|---|---|---|---|---|");
        for (Method m : methods) {
            long[] c = counts.get(m.name());
            double ms = median(msPerToken.get(m.name()));
            System.out.printf(Locale.ROOT, "| %s | %.2f | %s | %s | %.3f | %.3f | %.2fx |%n", m.name(),
                    (double) c[0] / c[1], c[4] == 0 ? "-" : String.format(Locale.ROOT, "%.2f", (double) c[4] / c[0]),
                    c[2] == 0 ? "-" : String.format(Locale.ROOT, "%.3f", (double) c[3] / c[2]), ms,
                    median(msPerForward.get(m.name())), base / ms);
        }
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }
}
