package dev.arbor.benchmarks;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.benchmarks.diffusion.JudgePerplexity;
import dev.arbor.benchmarks.diffusion.Tally;
import dev.arbor.benchmarks.diffusion.TradeOffPlot;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.tests.diffusion.Backends;
import dev.arbor.tests.diffusion.DiffusionRun;
import dev.arbor.tests.diffusion.DiffusionStrategies;
import dev.arbor.tests.diffusion.DiffusionStrategies.Strategy;
import dev.arbor.tests.diffusion.TrainedModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * Every diffusion-decoding strategy side by side on the forge's masked-diffusion LM ({@code arbor-tiny-mdlm}) and
 * block-diffusion LM ({@code arbor-tiny-bd}), on ONNX Runtime, greedy, over a fixed set of prompts, in one JVM with
 * the strategies interleaved round by round (on the flat class path: the generators are instantiated directly, as in
 * {@code tests/diffusion}). Per strategy:
 * <ul>
 *   <li>tokens per forward pass (emitted tokens / forwards of every model the strategy runs: guided diffusion's
 *       guide included) and decoded positions per forward (EOS padding included);</li>
 *   <li>speedup: emitted tokens per second over those of one-token-per-step LLaDA decoding
 *       ({@link DiffusionStrategies#BASELINE}) in the same run, from the median round's wall time;</li>
 *   <li>quality: the perplexity of the samples under the forge's default AR model ({@code arbor-tiny-ar}) as judge,
 *       teacher-forced on its own backend (ONNX Runtime), and the share of distinct bigrams (repetition check);</li>
 *   <li>whether the DJL backend gives the same tokens for every prompt.</li>
 * </ul>
 * Also the issue-7 trade-off: fixed-step LLaDA decoding at 1, 2, 4 and 8 tokens per step on each model. Prints
 * markdown tables and writes the figure (JFreeChart PNG).
 *
 * <pre>java @argfile dev.arbor.benchmarks.DiffusionBenchmark TRAINED [gen_length] [rounds] [png]</pre>
 */
public final class DiffusionBenchmark {
    /** TinyStories-style openings, like the forge's training stories. */
    private static final String[] PROMPTS = {"Once upon a time", "Lily and Ben", "The dog", "One day, a little girl",
        "Tom had a big red ball", "The sun was", "Mom said", "There was a cat"};
    private static final int[] TOKENS_PER_STEP = {1, 2, 4, 8};

    private DiffusionBenchmark() {
    }

    /**
     * A configuration: its label, the strategy for a prompt of a given length (fixed steps depend on it) and whether
     * it runs on the AR model instead of the diffusion LM (the reference row).
     */
    private record Config(String label, Function<Integer, Strategy> strategy, boolean autoregressive) {
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : "models/trained");
        int genLength = args.length > 1 ? Integer.parseInt(args[1]) : 48;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        Path png = Path.of(args.length > 3 ? args[3] : "docs/benchmarks/diffusion.png");
        System.setProperty("OPT_OUT_TRACKING", "true");
        System.setProperty("ai.djl.offline", "true");
        TrainedModels trained = TrainedModels.at(root);
        List<Path> missing = trained.missing(TrainedModels.MDLM, TrainedModels.BD, TrainedModels.AR,
                TrainedModels.DRAFT);
        if (!missing.isEmpty()) {
            throw new IllegalStateException("trained models missing under " + trained.root() + ": " + missing);
        }
        Llama2cTokenizer tokenizer = Llama2cTokenizer.read(trained.tokenizer(TrainedModels.MDLM), 0);
        List<int[]> prompts = new ArrayList<>();
        for (String p : PROMPTS) {
            prompts.add(tokenizer.encode(p, true));
        }
        Path cache = Files.createTempDirectory("arbor-diffusion-bench");
        List<TradeOffPlot.Panel> panels = new ArrayList<>();
        StringBuilder out = new StringBuilder();
        long started = System.nanoTime();
        try (Backends backends = new Backends(cache)) {
            ModelBackend judgeModel = backends.open(Backends.ONNXRUNTIME, trained.checkpoint(TrainedModels.AR));
            ModelBackend djlJudge = backends.open(Backends.DJL, trained.checkpoint(TrainedModels.AR));
            for (String name : List.of(TrainedModels.MDLM, TrainedModels.BD)) {
                Path checkpoint = trained.checkpoint(name);
                ModelBackend ort = backends.open(Backends.ONNXRUNTIME, checkpoint);
                ModelBackend djl = backends.open(Backends.DJL, checkpoint);
                ModelResolver ortModels = backends.resolver(Backends.ONNXRUNTIME, checkpoint);
                ModelResolver djlModels = backends.resolver(Backends.DJL, checkpoint);
                Path guide = trained.checkpoint(TrainedModels.DRAFT);

                List<Config> configs = new ArrayList<>();
                for (Strategy s : DiffusionStrategies.ALL) {
                    configs.add(new Config(s.label(), promptLength -> s, false));
                }
                for (int k : TOKENS_PER_STEP) {
                    Function<Integer, Strategy> fixed = length -> DiffusionStrategies.fixedSteps(ort.card(), length,
                            genLength, k);
                    configs.add(new Config(fixed.apply(1).label(), fixed, false));
                }
                // the papers' other baseline: plain autoregressive decoding with a KV cache, on the AR model (its
                // judge perplexity is self-graded: the judge scoring its own greedy text)
                Strategy ar = new Strategy("autoregressive", "reference: autoregressive " + TrainedModels.AR
                        + ", KV cache (self-graded)", AutoregressiveGenerator::new, Map.of(), false);
                configs.add(new Config(ar.label(), promptLength -> ar, true));
                List<Tally> tallies = new ArrayList<>();
                for (Config c : configs) {
                    tallies.add(new Tally(c.label(), rounds, new JudgePerplexity(judgeModel)));
                }
                // round -1 warms up (class loading, JIT, ONNX Runtime's first runs) and records the samples
                for (int round = -1; round < rounds; round++) {
                    for (int i = 0; i < configs.size(); i++) {
                        for (int[] prompt : prompts) {
                            if (tallies.get(i).refused() != null) {
                                break;
                            }
                            Strategy s = configs.get(i).strategy().apply(prompt.length);
                            DiffusionRun run;
                            boolean useAr = configs.get(i).autoregressive();
                            try {
                                run = DiffusionRun.greedy(s, useAr ? judgeModel : ort, ortModels, guide, prompt,
                                        genLength);
                            } catch (ArborException e) {
                                // a refusal is a result (the strategy's own validation), reported in the table
                                tallies.get(i).refuse(e.getMessage());
                                break;
                            }
                            if (round < 0) {
                                double total = run.stat("total_forward_passes");
                                long forwards = Double.isNaN(total) ? run.result().forwardPasses() : (long) total;
                                double decoded = run.stat("decoded_tokens"); // absent for the AR reference
                                tallies.get(i).sample(prompt, run.tokens(), Double.isNaN(decoded)
                                        ? run.tokens().length : (long) decoded, forwards);
                                DiffusionRun other = DiffusionRun.greedy(s, useAr ? djlJudge : djl, djlModels, guide,
                                        prompt, genLength);
                                tallies.get(i).compared(Arrays.equals(run.tokens(), other.tokens()));
                            } else {
                                tallies.get(i).time(round, run.nanos());
                            }
                        }
                    }
                }
                int strategies = DiffusionStrategies.ALL.size();
                String kind = ort.card().nativeAttention() + (ort.card().blockSize() > 0 ? ", blocks of "
                        + ort.card().blockSize() : "");
                out.append(String.format(Locale.ROOT, "%n### %s (%s)%n%n", name, kind));
                table(out, tallies.subList(0, strategies), tallies.get(0));
                out.append(String.format(Locale.ROOT, "%nFixed-step LLaDA decoding (issue 7 trade-off):%n%n"));
                int fixed = strategies + TOKENS_PER_STEP.length;
                table(out, tallies.subList(strategies, fixed), tallies.get(0));
                out.append(String.format(Locale.ROOT, "%nReference (not a diffusion LM):%n%n"));
                table(out, tallies.subList(fixed, tallies.size()), tallies.get(0));
                panels.add(new TradeOffPlot.Panel(name + " (" + kind + ")", tallies.subList(strategies, fixed),
                        tallies.subList(0, strategies)));
            }
        }
        TradeOffPlot.write(panels, png);
        System.out.printf(Locale.ROOT, "Diffusion strategies on the forge's models, ONNX Runtime, greedy, %d prompts, "
                + "%d new tokens at most (stop at EOS), %d timed rounds after one warm-up (median), judge %s; "
                + "%s; %.0f s%n", prompts.size(), genLength, rounds, TrainedModels.AR, LocalDate.now(),
                (System.nanoTime() - started) / 1e9);
        System.out.print(out);
        System.out.println("\nfigure: " + png.toAbsolutePath());
    }

    private static void table(StringBuilder out, List<Tally> rows, Tally baseline) {
        out.append("| strategy | tokens / forward | decoded / forward | forwards / sample | tokens / sample "
                + "| tokens/s | speedup vs 1 token/step | judge perplexity | distinct bigrams | DJL same tokens |\n");
        out.append("|---|---|---|---|---|---|---|---|---|---|\n");
        for (Tally t : rows) {
            if (t.refused() != null) {
                out.append("| ").append(t.label()).append(" | refused: ").append(t.refused().replace('|', '/'))
                        .append(" | | | | | | | | |\n");
                continue;
            }
            out.append(String.format(Locale.ROOT, "| %s | %.2f | %.2f | %.1f | %.1f | %.0f | **%.2f** | %.2f | %.2f "
                            + "| %s |%n", t.label(), t.tokensPerForward(), t.decodedPerForward(), t.forwardsPerSample(),
                    t.tokensPerSample(), t.tokensPerSecond(), t.tokensPerSecond() / baseline.tokensPerSecond(),
                    t.perplexity(), t.distinct2(), t.agreement()));
        }
    }
}
