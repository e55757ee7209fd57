package dev.arbor.forge;

import dev.arbor.api.ArborException;
import java.io.IOException;
import java.nio.file.Path;

/**
 * One training recipe (a JSON file in tools/forge/recipes): how the corpus is made, the tokenizer, the architecture,
 * the objective, the optimizer and the schedule, and a smaller "smoke" variant for tests. Same recipe and seed give
 * the same corpus, tokenizer and (on the same machine and thread count) the same weights.
 */
public record Recipe(String name, String description, long seed, Corpus corpus, TokenizerSpec tokenizer,
                     Architecture model, Objective objective, Optimizer optimizer, int steps, int batchSize,
                     int logEvery, int checkpointEvery, int evalBatches, Smoke smoke, ImageSpec image) {

    /** Objective kinds that train a class-conditional image prior on Fashion-MNIST instead of a text model. */
    public static final java.util.Set<String> IMAGE_KINDS = java.util.Set.of("image-raster", "image-next-scale",
            "image-token-shuffle", GroupParallelImageObjective.KIND, "image-vf-prompt", GaussianLatentObjective.KIND,
            FlowMatchingLatentObjective.KIND);

    /**
     * The distilled corpus: stories sampled from {@code teacher} (path under the models folder) until
     * {@code targetBytes} of UTF-8 text; the last {@code heldoutFraction} of the stories is held out.
     */
    public record Corpus(String teacher, String teacherTokenizer, long seed, double temperature, double topP,
                         int maxStoryTokens, long targetBytes, double heldoutFraction) {
    }

    /** The forge's BPE: {@code vocabSize} ids in llama2.c tokenizer.bin format (see {@link BpeTrainer}). */
    public record TokenizerSpec(int vocabSize) {
    }

    /** llama2.c header fields; n_kv_heads = n_heads (no grouped-query attention in the forge). */
    public record Architecture(int dim, int hiddenDim, int nLayers, int nHeads, int seqLen, boolean sharedClassifier) {
    }

    /**
     * {@code kind}: "ar" (next-token), "mdlm" (LLaDA masked diffusion), "bd" (block diffusion with
     * {@code blockSize}) or "tidar" (TiDAR's causal + draft-block objective, {@code blockSize} = draft length,
     * {@link TiDarObjective}); {@code minMaskRate} is the lower end eps of t ~ U(eps, 1) for the diffusion objectives;
     * {@code window}: the window side s of "image-token-shuffle" (s x s tokens per position, s^2 output heads);
     * {@code groupSize} and {@code causalNum} are the groups of "image-group-parallel"
     * ({@link GroupParallelImageObjective}; absent, and not written, for every other kind).
     */
    public record Objective(String kind, int blockSize, double minMaskRate,
                            @com.fasterxml.jackson.annotation.JsonInclude(
                                    com.fasterxml.jackson.annotation.JsonInclude.Include.NON_DEFAULT) int window,
                            @com.fasterxml.jackson.annotation.JsonInclude(
                                    com.fasterxml.jackson.annotation.JsonInclude.Include.NON_DEFAULT) int groupSize,
                            @com.fasterxml.jackson.annotation.JsonInclude(
                                    com.fasterxml.jackson.annotation.JsonInclude.Include.NON_DEFAULT) int causalNum) {
        /** An objective without windows or groups (every kind but image-token-shuffle and image-group-parallel). */
        public Objective(String kind, int blockSize, double minMaskRate) {
            this(kind, blockSize, minMaskRate, 0, 0, 0);
        }
    }

    /** AdamW (Loshchilov and Hutter 2019) with linear warmup then cosine decay to minLr; global-norm clipping. */
    public record Optimizer(double lr, double minLr, int warmupSteps, double weightDecay, double beta1, double beta2,
                            double gradClip) {
    }

    /**
     * The data of an image prior: Fashion-MNIST tokenized by {@code tokenizer} (a models/images VQ file, relative to
     * the trained-models folder: patch VQ for "image-raster", multi-scale VQ for "image-next-scale"),
     * the class token replaced by the null class with probability {@code condDropout} (classifier-free guidance);
     * {@code trainLimit} / {@code heldoutLimit} > 0 keep only the first images of the train / test split.
     * "image-vf-prompt" also names {@code vfTokenizer} (a multi-scale VQ file) and {@code vfScales}: its first scales
     * are the Vision Full-view prompt tokens ({@link VfPromptObjective}); other kinds leave them null / 0.
     */
    public record ImageSpec(String tokenizer, double condDropout, int trainLimit, int heldoutLimit,
                            String vfTokenizer, int vfScales) {
        /** Without VF prompt (every kind but image-vf-prompt). */
        public ImageSpec(String tokenizer, double condDropout, int trainLimit, int heldoutLimit) {
            this(tokenizer, condDropout, trainLimit, heldoutLimit, null, 0);
        }
    }

    /**
     * The test-sized run: a few steps on a small slice of the corpus with a small tokenizer (an image prior uses
     * steps, batch_size and lr only, on the first 64 training and 16 test images).
     */
    public record Smoke(int steps, int batchSize, int seqLen, long corpusBytes, int vocabSize, double lr) {
    }

    public static Recipe read(Path file) {
        try {
            Recipe r = Json.MAPPER.readValue(file.toFile(), Recipe.class);
            r.validate(file.toString());
            return r;
        } catch (IOException e) {
            throw ArborException.invalid("cannot read recipe " + file + ": " + e.getMessage());
        }
    }

    /** True for a Fashion-MNIST image prior (objective image-raster, image-next-scale or image-vf-prompt). */
    public boolean isImagePrior() {
        return IMAGE_KINDS.contains(objective.kind);
    }

    /**
     * This recipe shrunk to its smoke section: fewer steps, smaller batch, shorter sequences, a corpus slice (for an
     * image prior: the smoke steps, batch and lr on the first 64 training and 16 test images).
     */
    public Recipe smokeVariant() {
        if (isImagePrior()) {
            Optimizer o = new Optimizer(smoke.lr, smoke.lr, 0, optimizer.weightDecay, optimizer.beta1,
                    optimizer.beta2, optimizer.gradClip);
            ImageSpec i = new ImageSpec(image.tokenizer, image.condDropout, 64, 16, image.vfTokenizer,
                    image.vfScales);
            return new Recipe(name + "-smoke", description, seed, null, null, model, objective, o, smoke.steps,
                    smoke.batchSize, 1, smoke.steps, 2, smoke, i);
        }
        Corpus c = new Corpus(corpus.teacher, corpus.teacherTokenizer, corpus.seed, corpus.temperature, corpus.topP,
                corpus.maxStoryTokens, smoke.corpusBytes, corpus.heldoutFraction < 0.1 ? 0.1 : corpus.heldoutFraction);
        Architecture a = new Architecture(model.dim, model.hiddenDim, model.nLayers, model.nHeads, smoke.seqLen,
                model.sharedClassifier);
        Optimizer o = new Optimizer(smoke.lr, smoke.lr, 0, optimizer.weightDecay, optimizer.beta1, optimizer.beta2,
                optimizer.gradClip);
        return new Recipe(name + "-smoke", description, seed, c, new TokenizerSpec(smoke.vocabSize), a, objective, o,
                smoke.steps, smoke.batchSize, 1, smoke.steps, 2, smoke, image);
    }

    /** This recipe with another step count (e.g. to reproduce a time-capped run). */
    public Recipe withSteps(int n) {
        return new Recipe(name, description, seed, corpus, tokenizer, model, objective, optimizer, n, batchSize,
                logEvery, checkpointEvery, evalBatches, smoke, image);
    }

    void validate(String source) {
        String where = "recipe " + source + ": ";
        if (name == null || !name.matches("[a-z0-9][a-z0-9-]*")) {
            throw ArborException.invalid(where + "name must be lower-case letters, digits and '-', got " + name);
        }
        if (objective != null && IMAGE_KINDS.contains(objective.kind)) {
            validateImagePrior(where);
            return;
        }
        if (corpus == null || tokenizer == null || model == null || objective == null || optimizer == null
                || smoke == null) {
            throw ArborException.invalid(where + "needs the sections corpus, tokenizer, model, objective, optimizer "
                    + "and smoke");
        }
        if (tokenizer.vocabSize < BpeTrainer.FIRST_MERGE_ID + 1 || smoke.vocabSize < BpeTrainer.FIRST_MERGE_ID + 1) {
            throw ArborException.invalid(where + "tokenizer vocab_size must exceed " + BpeTrainer.FIRST_MERGE_ID
                    + " (special, byte and MASK ids), got " + tokenizer.vocabSize + " / smoke " + smoke.vocabSize);
        }
        if (model.dim % model.nHeads != 0 || (model.dim / model.nHeads) % 2 != 0) {
            throw ArborException.invalid(where + "dim " + model.dim + " must be a multiple of n_heads " + model.nHeads
                    + " with an even head size (RoPE rotates pairs)");
        }
        switch (objective.kind) {
            case "ar", "mdlm" -> { }
            case "bd" -> {
                if (objective.blockSize < 1 || model.seqLen % objective.blockSize != 0
                        || smoke.seqLen % objective.blockSize != 0) {
                    throw ArborException.invalid(where + "objective bd needs block_size >= 1 dividing seq_len "
                            + model.seqLen + " and smoke seq_len " + smoke.seqLen + ", got " + objective.blockSize);
                }
            }
            case TiDarObjective.KIND -> {
                if (objective.blockSize < 1 || model.seqLen % objective.blockSize != 0
                        || smoke.seqLen % objective.blockSize != 0) {
                    throw ArborException.invalid(where + "objective tidar needs block_size (the draft length k) >= 1 "
                            + "dividing seq_len " + model.seqLen + " and smoke seq_len " + smoke.seqLen + ", got "
                            + objective.blockSize);
                }
            }
            default -> throw ArborException.invalid(where + "objective kind must be ar, mdlm, bd, tidar "
                    + "or one of the image kinds " + new java.util.TreeSet<>(IMAGE_KINDS) + ", got "
                    + objective.kind);
        }
        if (steps < 1 || batchSize < 1 || smoke.steps < 1 || smoke.batchSize < 1) {
            throw ArborException.invalid(where + "steps and batch_size must be positive (smoke too)");
        }
    }

    private void validateImagePrior(String where) {
        if (model == null || optimizer == null || image == null || smoke == null) {
            throw ArborException.invalid(where + "objective " + objective.kind + " needs the sections model, "
                    + "optimizer, image and smoke");
        }
        if (corpus != null || tokenizer != null) {
            throw ArborException.invalid(where + "an image prior has no corpus or tokenizer section: its data is "
                    + "Fashion-MNIST through image.tokenizer");
        }
        if (image.tokenizer == null || image.tokenizer.isBlank()) {
            throw ArborException.invalid(where + "image.tokenizer must name a VQ file (models/trained/fashion-vq/...)");
        }
        if (!(image.condDropout >= 0 && image.condDropout < 1) || image.trainLimit < 0 || image.heldoutLimit < 0) {
            throw ArborException.invalid(where + "image.cond_dropout must be in [0, 1) and the limits >= 0, got "
                    + image.condDropout + ", " + image.trainLimit + ", " + image.heldoutLimit);
        }
        if (model.dim % model.nHeads != 0 || (model.dim / model.nHeads) % 2 != 0) {
            throw ArborException.invalid(where + "dim " + model.dim + " must be a multiple of n_heads " + model.nHeads
                    + " with an even head size (RoPE rotates pairs)");
        }
        if (steps < 1 || batchSize < 1 || smoke.steps < 1 || smoke.batchSize < 1) {
            throw ArborException.invalid(where + "steps and batch_size must be positive (smoke too)");
        }
        if (objective.kind.equals("image-token-shuffle") && (objective.window < 1 || objective.window > 7)) {
            throw ArborException.invalid(where + "objective image-token-shuffle needs window (the side s of the "
                    + "s x s token windows) in 1..7, e.g. \"window\": 2; got " + objective.window);
        }
        if (objective.kind.equals(GroupParallelImageObjective.KIND)
                ? objective.groupSize < 1 || objective.causalNum < 1
                : objective.groupSize != 0 || objective.causalNum != 0) {
            throw ArborException.invalid(where + "objective group_size and causal_num belong to "
                    + GroupParallelImageObjective.KIND + ", where both must be >= 1 (got " + objective.groupSize
                    + ", " + objective.causalNum + " for " + objective.kind + ")");
        }
        boolean vf = objective.kind.equals("image-vf-prompt");
        if (vf && (image.vfTokenizer == null || image.vfTokenizer.isBlank() || image.vfScales < 1)) {
            throw ArborException.invalid(where + "objective image-vf-prompt needs image.vf_tokenizer (a multi-scale "
                    + "VQ file, e.g. fashion-vq/fashion-msvq.bin) and image.vf_scales >= 1, got "
                    + image.vfTokenizer + ", " + image.vfScales);
        }
        if (!vf && (image.vfTokenizer != null || image.vfScales != 0)) {
            throw ArborException.invalid(where + "image.vf_tokenizer and image.vf_scales belong to objective "
                    + "image-vf-prompt, not " + objective.kind);
        }
    }
}
