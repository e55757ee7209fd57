package dev.arbor.tests.diffusion;

import dev.arbor.api.generation.Generator;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.generation.dinfer.DinferGenerator;
import dev.arbor.generation.entropyorder.EntropyOrderGenerator;
import dev.arbor.generation.eoserass.EoserAssGenerator;
import dev.arbor.generation.fastdllm.FastDllmGenerator;
import dev.arbor.generation.guideddiffusion.GuidedDiffusionGenerator;
import dev.arbor.generation.maskeddiffusion.MaskedDiffusionGenerator;
import dev.arbor.generation.rcr.RcrGenerator;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The diffusion-decoding strategies of the seven bundles, each as its part name, the generator (instantiated
 * directly, as the bundles' own tests do) and the options it runs with here. Adding a strategy is one line in
 * {@link #ALL}; the tests and {@code DiffusionBenchmark} pick it up.
 */
public final class DiffusionStrategies {
    /** A step count no block reaches: each block then takes one step per position. */
    static final int ONE_PER_POSITION = 1 << 20;

    private DiffusionStrategies() {
    }

    /**
     * One strategy configuration.
     *
     * @param part      the generator's {@code arbor.part} name (what a pipeline names)
     * @param label     how tables name this configuration
     * @param generator a fresh generator
     * @param options   its options (request-level, as a pipeline's {@code generator.options})
     * @param guided    true when it needs option {@code guide}, a causal LM that {@link #options(Path)} fills in
     */
    public record Strategy(String part, String label, Supplier<Generator> generator, Map<String, Object> options,
                           boolean guided) {

        /**
         * The options for {@code card}'s model: {@code block_length} is for bidirectional models only (a block-causal
         * model decodes its own blocks, and the strategies refuse another length), and {@code guide} (a checkpoint,
         * opened on the target's backend) is added when the strategy needs one.
         */
        public Map<String, Object> options(ModelCard card, Path guide) {
            Map<String, Object> out = new LinkedHashMap<>(options);
            if (card.nativeAttention() == NativeAttention.BLOCK_CAUSAL) {
                out.remove("block_length");
            }
            if (guided) {
                out.put("guide", Map.of("path", guide.toAbsolutePath().toString()));
            }
            return out;
        }

        @Override
        public String toString() {
            return label;
        }
    }

    /**
     * One-token-per-step LLaDA decoding (low-confidence remasking), the baseline every speed-up is measured
     * against. {@code steps} is set above any block's length: the loop gives each block at most as many steps as it
     * has positions, so every step commits exactly one token (the default, steps = L spread evenly over the blocks,
     * would give a block-causal model's full blocks fewer steps than positions when its first block is partial).
     */
    public static final Strategy BASELINE = new Strategy(MaskedDiffusionGenerator.NAME,
            "LLaDA low-confidence, 1 token/step (baseline)", MaskedDiffusionGenerator::new,
            Map.of("steps", ONE_PER_POSITION), false);

    /** Every strategy, one line each; defaults are the bundles' (their papers'), set here only where it matters. */
    public static final List<Strategy> ALL = List.of(
            BASELINE,
            new Strategy(FastDllmGenerator.NAME, "Fast-dLLM v2, threshold 0.9, sub-blocks of 4", FastDllmGenerator::new,
                    Map.of("threshold", 0.9, "sub_block_size", 4), false),
            new Strategy(DinferGenerator.NAME, "dInfer threshold 0.9, dual cache", DinferGenerator::new,
                    Map.of("decoder", "threshold", "threshold", 0.9, "cache", "dual", "block_length", 32), false),
            new Strategy(DinferGenerator.NAME, "dInfer credit decoder, no cache", DinferGenerator::new,
                    Map.of("decoder", "credit", "cache", "none", "block_length", 32), false),
            new Strategy(EoserAssGenerator.NAME, "EOSER + ascending step sizes (log2 L steps)", EoserAssGenerator::new,
                    Map.of(), false),
            new Strategy(RcrGenerator.NAME, "RCR running-confidence remasking, 1 token/step", RcrGenerator::new,
                    Map.of(), false),
            new Strategy(EntropyOrderGenerator.NAME, "entropy order (DiffuCoder/Dream), 1 token/step",
                    EntropyOrderGenerator::new, Map.of(), false),
            new Strategy(GuidedDiffusionGenerator.NAME, "guided diffusion, draft guide, FreeCache",
                    GuidedDiffusionGenerator::new, Map.of("strategy", "deterministic", "cache", "prompt"), true));

    /** The part names of {@link #ALL}, each once, in order. */
    public static List<String> parts() {
        return ALL.stream().map(Strategy::part).distinct().toList();
    }

    /**
     * Fixed-step LLaDA decoding at {@code tokensPerStep} tokens per step (the steps/quality trade-off): for a
     * bidirectional model {@code ceil(L / k)} steps over the one block of the {@code genLength}-token region; for a
     * block-causal model {@code ceil(b / k)} steps for each of its blocks of size {@code b} (the region of a prompt of
     * {@code promptLength} tokens spans {@code blocks} of them; a partial block takes at most one step per position,
     * so its share can be below k tokens per step).
     */
    public static Strategy fixedSteps(ModelCard card, int promptLength, int genLength, int tokensPerStep) {
        int steps;
        if (card.nativeAttention() == NativeAttention.BLOCK_CAUSAL) {
            int b = card.blockSize();
            int blocks = (promptLength + genLength + b - 1) / b - promptLength / b;
            steps = blocks * ((b + tokensPerStep - 1) / tokensPerStep);
        } else {
            steps = (genLength + tokensPerStep - 1) / tokensPerStep;
        }
        String label = "LLaDA fixed steps, " + tokensPerStep + (tokensPerStep == 1 ? " token/step" : " tokens/step");
        return new Strategy(MaskedDiffusionGenerator.NAME, label,
                MaskedDiffusionGenerator::new, Map.of("steps", Math.max(1, steps)), false);
    }
}
