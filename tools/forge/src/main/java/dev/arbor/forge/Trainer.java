package dev.arbor.forge;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.training.GradientCollector;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * The training loop: AdamW (Loshchilov and Hutter 2019) with linear warmup and cosine decay, global-norm gradient
 * clipping (Pascanu et al. 2013), a progress line every {@code log_every} steps (step, loss, tokens/s, ETA) and a
 * checkpoint every {@code checkpoint_every} steps. All randomness (windows, masks) comes from the recipe's seed.
 */
public final class Trainer {
    private final Recipe recipe;
    private final LlamaNet net;
    private final TrainingObjective objective;
    private final Consumer<String> log;
    private final List<NDArray> params;
    private final List<NDArray> m = new ArrayList<>();
    private final List<NDArray> v = new ArrayList<>();
    private final List<Float> lossHistory = new ArrayList<>();
    private int step;
    private int badSteps;
    private int skipped;
    private int total;
    private double budgetSeconds;
    private final List<List<Integer>> capped = new ArrayList<>();

    public Trainer(Recipe recipe, LlamaNet net, TrainingObjective objective, NDManager manager,
                   Consumer<String> log) {
        this.recipe = recipe;
        this.net = net;
        this.objective = objective;
        this.log = log;
        this.params = net.parameters();
        for (NDArray p : params) {
            m.add(manager.zeros(p.getShape()));
            v.add(manager.zeros(p.getShape()));
        }
    }

    /** The learning rate at {@code step} (0-based): linear warmup, then cosine from lr down to min_lr. */
    static double learningRate(Recipe.Optimizer o, int step, int total) {
        if (step < o.warmupSteps()) {
            return o.lr() * (step + 1) / o.warmupSteps();
        }
        double progress = (double) (step - o.warmupSteps()) / Math.max(1, total - o.warmupSteps());
        return o.minLr() + 0.5 * (o.lr() - o.minLr()) * (1 + Math.cos(Math.PI * Math.min(1, progress)));
    }

    /**
     * Fits the run into {@code seconds} of wall time: from step 10 on, every 50 steps, the step count is set to what
     * the measured pace allows (at most the recipe's steps). Every change goes into run.json; a rerun with
     * --steps and no budget reproduces the data order exactly and the schedule up to those changes.
     */
    public void timeBudget(double seconds) {
        this.budgetSeconds = seconds;
    }

    /** Each time-budget cap as [at step, new total]. */
    public List<List<Integer>> caps() {
        return capped;
    }

    /** Steps the run will take (after any time-budget cap). */
    public int totalSteps() {
        return total;
    }

    /** Runs every step; returns the per-step training losses. */
    public List<Float> run(Windows train, NDManager manager, Path runDir) throws IOException {
        SplittableRandom rng = new SplittableRandom(recipe.seed());
        int seqLen = recipe.model().seqLen();
        int window = objective.windowLength(seqLen);
        total = recipe.steps();
        long tokensPerStep = (long) recipe.batchSize() * seqLen;
        long start = System.nanoTime();
        double smooth = Double.NaN;
        for (step = 0; step < total; step++) {
            float loss;
            try (NDManager scope = manager.newSubManager()) {
                TrainingObjective.Batch batch = objective.batch(train.randomWindows(recipe.batchSize(), window, rng),
                        rng);
                NDArray l;
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    l = objective.loss(net, scope, batch);
                    gc.backward(l);
                }
                loss = l.getFloat();
                if (update(scope, learningRate(recipe.optimizer(), step, total), Float.isFinite(loss))) {
                    badSteps = 0;
                } else {
                    // A non-finite loss or gradient is skipped, not applied: one such update would turn every
                    // weight into NaN. It is counted in run.json (skipped_steps) and is never expected (the smoke
                    // runs require 0): the ones seen came from freed memory read by the backward pass, see
                    // LlamaNet.constant.
                    skipped++;
                    if (++badSteps >= 10) {
                        throw new IllegalStateException("training diverged: 10 steps in a row up to step "
                                + (step + 1) + " had a non-finite loss or gradient; lower the recipe's lr, raise "
                                + "warmup_steps or min_mask_rate");
                    }
                    log.accept("step " + (step + 1) + ": non-finite loss or gradient, update skipped");
                }
            }
            lossHistory.add(Float.isFinite(loss) ? loss : Float.NaN);
            // Re-checked every 50 steps: other work on a shared machine changes the pace, so the step count follows
            // it down or up (never above the recipe's steps); the cosine schedule stretches with it.
            if (budgetSeconds > 0 && (step + 1 == 10 || (step + 1) % 50 == 0)) {
                double perStep = (System.nanoTime() - start) / 1e9 / (step + 1);
                int fits = (int) Math.min(recipe.steps(),
                        Math.max(step + 2, Math.floor(budgetSeconds / perStep / 10) * 10));
                if (fits != total) {
                    log.accept(String.format("time budget %s at %.2f s/step: setting the run to %d steps (was %d)",
                            hms(budgetSeconds), perStep, fits, total));
                    total = fits;
                    capped.add(List.of(step + 1, fits));
                }
            }
            if (Float.isFinite(loss)) {
                smooth = Double.isNaN(smooth) ? loss : 0.9 * smooth + 0.1 * loss;
            }
            int done = step + 1;
            if (done % recipe.logEvery() == 0 || done == total) {
                double secs = (System.nanoTime() - start) / 1e9;
                double perStep = secs / done;
                log.accept(String.format("%s step %d/%d  loss %.4f (avg %.4f)  lr %.2e  %.0f tokens/s  elapsed %s  "
                                + "ETA %s", recipe.name(), done, total, loss, smooth,
                        learningRate(recipe.optimizer(), step, total), tokensPerStep * done / secs, hms(secs),
                        hms(perStep * (total - done))));
            }
            if (runDir != null && recipe.checkpointEvery() > 0 && done % recipe.checkpointEvery() == 0
                    && done < total) {
                net.writeCheckpoint(runDir.resolve("checkpoint-" + done + ".bin"));
                log.accept("checkpoint " + runDir.resolve("checkpoint-" + done + ".bin"));
            }
        }
        return lossHistory;
    }

    /** Updates skipped for a non-finite loss or gradient. */
    /**
     * The facts of a finished run every prior's run.json records (size, steps, budget, data seen, wall time, losses,
     * held-out loss); callers add their own keys.
     */
    public com.fasterxml.jackson.databind.node.ObjectNode runFacts(LlamaNet net, double budgetMinutes,
                                                                   int trainImages, double trainSeconds,
                                                                   List<Float> losses, double heldOut,
                                                                   int heldOutImages) {
        com.fasterxml.jackson.databind.node.ObjectNode run = Json.MAPPER.createObjectNode();
        run.put("parameters", net.parameterCount());
        run.put("steps", totalSteps());
        run.put("recipe_steps", recipe.steps());
        run.set("time_budget_caps", Json.MAPPER.valueToTree(caps()));
        run.put("time_budget_minutes", budgetMinutes);
        run.put("images_seen", (long) totalSteps() * recipe.batchSize());
        run.put("epochs", (double) totalSteps() * recipe.batchSize() / trainImages);
        run.put("wall_seconds", Math.round(trainSeconds));
        run.put("threads", DjlSetup.threads());
        run.put("train_loss_first", losses.get(0));
        run.put("train_loss_last10_mean", meanOfLast(losses, 10));
        run.put("train_loss_last100_mean", meanOfLast(losses, 100));
        run.put("skipped_steps", skippedSteps());
        run.put("heldout_loss", heldOut);
        run.put("heldout_images", heldOutImages);
        run.put("train_images", trainImages);
        return run;
    }

    private static double meanOfLast(List<Float> losses, int n) {
        return losses.subList(Math.max(0, losses.size() - n), losses.size()).stream().mapToDouble(Float::doubleValue)
                .filter(Double::isFinite).average().orElse(Double.NaN);
    }

    public int skippedSteps() {
        return skipped;
    }

    /**
     * AdamW with bias correction; weight decay only on matrices (not on the RMSNorm gains). Returns false, leaving
     * the weights alone, when the loss or the gradient norm is not finite; the gradients are cleared either way.
     */
    private boolean update(NDManager scope, double lr, boolean finiteLoss) {
        Recipe.Optimizer o = recipe.optimizer();
        int t = step + 1;
        List<NDArray> grads = new ArrayList<>(params.size());
        double sq = 0;
        for (NDArray p : params) {
            NDArray g = p.getGradient();
            g.attach(scope);
            grads.add(g);
            sq += g.square().sum().getFloat();
        }
        double norm = Math.sqrt(sq);
        if (!finiteLoss || !Double.isFinite(norm)) {
            for (NDArray g : grads) {
                g.set(new NDIndex("..."), 0f); // not muli(0): NaN * 0 stays NaN
            }
            return false;
        }
        float clip = (float) (o.gradClip() > 0 && norm > o.gradClip() ? o.gradClip() / norm : 1.0);
        float b1 = (float) o.beta1();
        float b2 = (float) o.beta2();
        float c1 = (float) (1 - Math.pow(o.beta1(), t));
        float c2 = (float) (1 - Math.pow(o.beta2(), t));
        for (int i = 0; i < params.size(); i++) {
            NDArray p = params.get(i);
            NDArray g = grads.get(i).mul(clip);
            m.get(i).muli(b1).addi(g.mul(1 - b1));
            v.get(i).muli(b2).addi(g.square().mul(1 - b2));
            // Temporaries start from scope arrays: an op on m or v would land in the long-lived manager.
            NDArray vHat = scope.zeros(p.getShape()).addi(v.get(i)).divi(c2).sqrt().addi(1e-8f);
            NDArray stepDir = scope.zeros(p.getShape()).addi(m.get(i)).divi(c1).divi(vHat);
            if (p.getShape().dimension() > 1 && o.weightDecay() > 0) {
                p.muli((float) (1 - lr * o.weightDecay()));
            }
            p.subi(stepDir.mul((float) lr));
            grads.get(i).subi(grads.get(i));
        }
        return true;
    }

    /**
     * The objective's loss on held-out windows with noise from a fixed seed: the mean next-token cross-entropy for
     * "ar", the masked-diffusion bound (ELBO) per token for "mdlm" and "bd". Consecutive windows from the start.
     */
    public static double heldOutLoss(LlamaNet net, TrainingObjective objective, Windows heldOut, int seqLen,
                                     int batchSize, int batches, long seed, NDManager manager) {
        SplittableRandom rng = new SplittableRandom(seed ^ 0x5DEECE66DL);
        int window = objective.windowLength(seqLen);
        int available = heldOut.windowCount(window);
        if (available == 0) {
            throw new IllegalArgumentException("held-out data has " + heldOut.length() + " ids, fewer than one "
                    + "window of " + window);
        }
        int n = Math.min(batches * batchSize, Math.max(available, batchSize));
        double sum = 0;
        int count = 0;
        for (int first = 0; first < n; first += batchSize) {
            int b = Math.min(batchSize, n - first);
            int[][] windows = new int[b][];
            for (int r = 0; r < b; r++) {
                windows[r] = heldOut.window(first + r, window);
            }
            try (NDManager scope = manager.newSubManager()) {
                TrainingObjective.Batch batch = objective.batch(windows, rng);
                sum += objective.loss(net, scope, batch).getFloat() * b;
                count += b;
            }
        }
        return sum / count;
    }

    static String hms(double seconds) {
        long s = Math.round(seconds);
        return String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    }
}
