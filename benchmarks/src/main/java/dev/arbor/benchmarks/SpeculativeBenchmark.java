package dev.arbor.benchmarks;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.generation.promptlookup.PromptLookupDrafter;
import dev.arbor.generation.promptlookup.PromptLookupGenerator;
import dev.arbor.generation.speculative.SpeculativeGenerator;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.speculative.DraftRequest;
import dev.arbor.speculative.SpeculativeDecoding;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Speculative decoding on llama2.c stories260K (5 layers) on ONNX Runtime, greedy, on the flat class path: plain
 * autoregressive decoding against speculative decoding with the 4- and 3-layer self-drafts ({@code draft_layers})
 * and against prompt lookup, interleaved round by round in one JVM. Per method it reports, over all rounds and
 * prompts:
 * <ul>
 *   <li>alpha: the per-token acceptance probability, estimated as accepted / (accepted + rejections) (the maximum
 *       likelihood estimate under Leviathan et al.'s i.i.d. model, in which a step's drafts are tested in order
 *       until the first rejection), and the plain ratio accepted / drafted;</li>
 *   <li>c: the measured cost ratio of one draft step to one target step (single-token KV decode forwards of the
 *       draft and the target, timed in the same round; for prompt lookup the time of one n-gram lookup over a
 *       200-token history divided by gamma and by the target step);</li>
 *   <li>v: the measured cost of the target's verification forward (gamma + 1 tokens) over a one-token step, which
 *       Leviathan et al.'s model takes to be 1;</li>
 *   <li>the measured speedup (plain AR wall time / method wall time for the same tokens) and the speedup predicted
 *       by Leviathan et al. (2023, Theorem 3.8 with Corollary 3.9): {@code (1 - alpha^(gamma+1)) / (1 - alpha)}
 *       expected tokens per step divided by {@code gamma c + 1}; and the same prediction with the measured
 *       verification cost {@code gamma c + v} in the denominator.</li>
 * </ul>
 * Every method's output is checked to equal plain greedy token for token.
 *
 * <pre>java @argfile dev.arbor.benchmarks.SpeculativeBenchmark MODELS [tokens] [rounds] [gamma]</pre>
 */
public final class SpeculativeBenchmark {
    private static final String[] PROMPTS = {"Once upon a time", "Lily and Ben", "The dog"};

    private SpeculativeBenchmark() {
    }

    /** Argmax with a one-hot distribution and the processed log-probability, as the sampling bundle's greedy. */
    private static final TokenSelector ARGMAX = (logits, context) -> {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        double max = logits[best];
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l - max);
        }
        float[] oneHot = new float[logits.length];
        oneHot[best] = 1f;
        double logp = -Math.log(sum);
        return new Selection(best, oneHot, logp, Math.exp(logp));
    };

    private record Method(String name, Generator generator, Map<String, Object> options, int draftLayers) {
    }

    public static void main(String[] args) throws Exception {
        Path models = Path.of(args.length > 0 ? args[0] : "../shared/models").toAbsolutePath().normalize();
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 200;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 10;
        int gamma = args.length > 3 ? Integer.parseInt(args[3]) : 4;
        System.setProperty("OPT_OUT_TRACKING", "true");
        Path cache = Files.createTempDirectory("arbor-spec-bench");
        Path checkpoint = models.resolve("stories260K/stories260K.bin");
        Llama2cTokenizer tokenizer = Llama2cTokenizer.read(models.resolve("stories260K/tok512.bin"), 512);
        OnnxModels resolver = new OnnxModels(checkpoint, cache);
        ModelRef targetRef = resolver.target();
        ModelBackend target = resolver.open(targetRef);
        Map<Integer, ModelBackend> drafts = new LinkedHashMap<>();
        for (int layers : new int[] {4, 3}) {
            drafts.put(layers, resolver.open(new ModelRef(targetRef.backend(), targetRef.format(), targetRef.path(),
                    targetRef.options().with("keep_layers", layers))));
        }
        List<int[]> prompts = new ArrayList<>();
        for (String p : PROMPTS) {
            prompts.add(tokenizer.encode(p, true));
        }
        List<Method> methods = List.of(
                new Method("plain autoregressive", new AutoregressiveGenerator(), Map.of(), 0),
                new Method("speculative, 4-layer self-draft", new SpeculativeGenerator(),
                        Map.of("draft_layers", 4, "lookahead", gamma), 4),
                new Method("speculative, 3-layer self-draft", new SpeculativeGenerator(),
                        Map.of("draft_layers", 3, "lookahead", gamma), 3),
                new Method("prompt lookup (n-grams 1..3)", new PromptLookupGenerator(),
                        Map.of("lookahead", gamma), -1));

        int warmup = 3;
        Map<String, long[]> wall = new LinkedHashMap<>();
        Map<String, long[]> counts = new LinkedHashMap<>(); // accepted, drafted, rejected, steps, emitted
        methods.forEach(m -> {
            wall.put(m.name(), new long[rounds]);
            counts.put(m.name(), new long[5]);
        });
        long[] targetStep = new long[rounds];
        long[] verifyStep = new long[rounds];
        Map<Integer, long[]> draftStep = new LinkedHashMap<>();
        drafts.keySet().forEach(l -> draftStep.put(l, new long[rounds]));
        long[] lookupNanos = new long[rounds];
        long[] truncTarget = new long[rounds];
        Map<Integer, long[]> truncDraft = new LinkedHashMap<>();
        drafts.keySet().forEach(l -> truncDraft.put(l, new long[rounds]));
        int[][] reference = new int[prompts.size()][];

        for (int round = -warmup; round < rounds; round++) {
            for (Method m : methods) {
                long total = 0;
                for (int p = 0; p < prompts.size(); p++) {
                    GenerationContext ctx = new GenerationContext(target, null, prompts.get(p), tokens,
                            () -> new Sampler(List.of(), ARGMAX), null, 0, Options.of(m.options()),
                            Cancellation.NEVER, resolver);
                    long start = System.nanoTime();
                    GenerationResult r = m.generator().generate(ctx, TokenSink.DISCARD);
                    total += System.nanoTime() - start;
                    if (m.draftLayers() == 0) {
                        reference[p] = r.tokens();
                    } else if (!Arrays.equals(r.tokens(), reference[p])) {
                        throw new IllegalStateException(m.name() + " differs from plain greedy on prompt '"
                                + PROMPTS[p] + "'");
                    }
                    if (round >= 0 && m.draftLayers() != 0) {
                        long[] c = counts.get(m.name());
                        c[0] += ((Number) r.stats().get(SpeculativeDecoding.ACCEPTED)).longValue();
                        c[1] += ((Number) r.stats().get(SpeculativeDecoding.DRAFTED)).longValue();
                        c[2] += ((Number) r.stats().get(SpeculativeDecoding.REJECTED)).longValue();
                        c[3] += r.forwardPasses();
                        c[4] += r.tokens().length;
                    }
                }
                if (round >= 0) {
                    wall.get(m.name())[round] = total;
                }
            }
            long t = stepNanos(target, prompts.get(0), tokens, 1);
            long v = stepNanos(target, prompts.get(0), tokens, gamma + 1);
            Map<Integer, Long> d = new LinkedHashMap<>();
            for (Map.Entry<Integer, ModelBackend> e : drafts.entrySet()) {
                d.put(e.getKey(), stepNanos(e.getValue(), prompts.get(0), tokens, 1));
            }
            long lookup = lookupNanos(reference[0], prompts.get(0), gamma);
            long rollbackTarget = truncateNanos(target, prompts.get(0), tokens, gamma + 1);
            Map<Integer, Long> rollbackDraft = new LinkedHashMap<>();
            for (Map.Entry<Integer, ModelBackend> e : drafts.entrySet()) {
                rollbackDraft.put(e.getKey(), truncateNanos(e.getValue(), prompts.get(0), tokens, gamma));
            }
            if (round >= 0) {
                truncTarget[round] = rollbackTarget;
                for (Map.Entry<Integer, Long> e : rollbackDraft.entrySet()) {
                    truncDraft.get(e.getKey())[round] = e.getValue();
                }
                targetStep[round] = t;
                verifyStep[round] = v;
                for (Map.Entry<Integer, Long> e : d.entrySet()) {
                    draftStep.get(e.getKey())[round] = e.getValue();
                }
                lookupNanos[round] = lookup;
            }
        }

        double t = median(targetStep);
        double v = median(verifyStep) / t;
        double arWall = median(wall.get(methods.get(0).name()));
        StringBuilder table = new StringBuilder();
        table.append("| method | alpha (accepted / tested) | accepted / drafted | tokens per step | c | "
                + "measured speedup | predicted (Leviathan et al.) | within 10 % | predicted with measured overheads "
                + "| within 10 % |\n");
        table.append("|---|---|---|---|---|---|---|---|---|---|\n");
        table.append(String.format(Locale.ROOT, "| %s | | | 1 | | 1 (%.1f ms per %d tokens x %d prompts) | | | | |%n",
                methods.get(0).name(), arWall / 1e6, tokens, prompts.size()));
        for (Method m : methods.subList(1, methods.size())) {
            long[] c = counts.get(m.name());
            double alpha = (double) c[0] / (c[0] + c[2]);
            double perStep = (double) c[4] / c[3];
            double cost = m.draftLayers() > 0 ? median(draftStep.get(m.draftLayers())) / t
                    : median(lookupNanos) / gamma / t;
            double expected = alpha >= 1 ? gamma + 1 : (1 - Math.pow(alpha, gamma + 1)) / (1 - alpha);
            double predicted = expected / (gamma * cost + 1);
            // The refined model: the measured tokens per step over the measured cost of a step in target-step
            // units: the drafts actually made, the verification forward (interpolated between 1 and v by the mean
            // draft length), and the state rollbacks of the steps that ended with a rejection.
            double draftedPerStep = (double) c[1] / c[3];
            double rollback = m.draftLayers() > 0
                    ? (median(truncTarget) + median(truncDraft.get(m.draftLayers()))) / t
                    : median(truncTarget) / t;
            double stepCost = draftedPerStep * cost + 1 + (v - 1) * draftedPerStep / gamma
                    + rollback * c[2] / c[3];
            double refined = perStep / stepCost;
            double measured = arWall / median(wall.get(m.name()));
            table.append(String.format(Locale.ROOT,
                    "| %s | %.3f | %.3f | %.2f | %.3f | **%.2f** | %.2f | %s | %.2f | %s |%n", m.name(), alpha,
                    (double) c[0] / c[1], perStep, cost, measured, predicted, within(measured, predicted), refined,
                    within(measured, refined)));
        }
        System.out.printf(Locale.ROOT, "rollback (truncate) %.1f us on the target, %s us on the drafts%n",
                median(truncTarget) / 1e3, truncDraft.entrySet().stream().map(e -> e.getKey() + " layers: "
                        + String.format(Locale.ROOT, "%.1f", median(e.getValue()) / 1e3)).toList());
        System.out.printf(Locale.ROOT, "Speculative decoding on stories260K, greedy, %d tokens x %d prompts, "
                + "gamma = %d, %d rounds (medians), %s%n", tokens, prompts.size(), gamma, rounds, LocalDate.now());
        System.out.printf(Locale.ROOT, "target step %.1f us, verify step (%d tokens) %.1f us, draft steps %s us, "
                        + "prompt lookup %.1f us per lookup%n%n", t / 1e3, gamma + 1, median(verifyStep) / 1e3,
                draftStep.entrySet().stream().map(e -> e.getKey() + " layers: " + String.format(Locale.ROOT,
                        "%.1f", median(e.getValue()) / 1e3)).toList(), median(lookupNanos) / 1e3);
        System.out.print(table);
        resolver.close();
    }

    /**
     * Median time of one KV decode forward of {@code width} new tokens on {@code model}, after prefilling
     * {@code prompt}, over {@code steps} forwards (the state is truncated back after each multi-token forward so
     * that every forward sees a similar cache length).
     */
    private static long stepNanos(ModelBackend model, int[] prompt, int steps, int width) {
        long[] times = new long[steps];
        try (DecodeState state = model.newState(1)) {
            model.forward(ForwardRequest.next(new int[][] {prompt}, state));
            int[] feed = new int[width];
            Arrays.fill(feed, 300);
            int[] rows = new int[width];
            for (int i = 0; i < width; i++) {
                rows[i] = i;
            }
            for (int s = 0; s < steps; s++) {
                long start = System.nanoTime();
                model.forward(ForwardRequest.builder(new int[][] {feed}).state(state).logitRows(new int[][] {rows})
                        .build());
                times[s] = System.nanoTime() - start;
                if (width > 1) {
                    state.truncate(state.length() - width + 1); // keep the cache growing by one token per step
                }
            }
        }
        return (long) median(times);
    }

    /**
     * Median time of one rollback on {@code model}'s state: after a forward of {@code width} new tokens, the time of
     * {@code truncate} back to one token past the old length (a rejection at the first draft).
     */
    private static long truncateNanos(ModelBackend model, int[] prompt, int steps, int width) {
        long[] times = new long[steps];
        try (DecodeState state = model.newState(1)) {
            model.forward(ForwardRequest.next(new int[][] {prompt}, state));
            int[] feed = new int[width];
            Arrays.fill(feed, 300);
            for (int s = 0; s < steps; s++) {
                model.forward(ForwardRequest.next(new int[][] {feed}, state));
                long start = System.nanoTime();
                state.truncate(state.length() - width + 1);
                times[s] = System.nanoTime() - start;
            }
        }
        return (long) median(times);
    }

    /** Median time of one prompt-lookup proposal over the history {@code prompt + generated}. */
    private static long lookupNanos(int[] generated, int[] prompt, int gamma) {
        int[] history = Arrays.copyOf(prompt, prompt.length + generated.length);
        System.arraycopy(generated, 0, history, prompt.length, generated.length);
        PromptLookupDrafter drafter = new PromptLookupDrafter(1, 3);
        Sampler none = new Sampler(List.of(), ARGMAX);
        long[] times = new long[201];
        for (int i = 0; i < times.length; i++) {
            SamplingContext h = SamplingContext.seeded(history, 512, i);
            long start = System.nanoTime();
            drafter.propose(new DraftRequest(h, none, gamma, null));
            times[i] = System.nanoTime() - start;
        }
        return (long) median(times);
    }

    private static String within(double measured, double predicted) {
        double off = measured / predicted - 1;
        return (Math.abs(off) <= 0.1 ? "yes" : "no") + String.format(Locale.ROOT, " (%+.0f %%)", 100 * off);
    }

    private static double median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }
}
