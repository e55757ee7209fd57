package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.arbor.api.image.ImageLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Draws class-conditional images from a trained prior for the model card, batched on the DJL network (the export
 * check proves it computes what the exported file computes): raster priors token by token (LlamaGen, Sun et al.
 * 2024), next-scale priors scale by scale (VAR, Tian et al. 2024), group-parallel priors group by group (NBP, Ren et
 * al. 2025). Classifier-free guidance (Ho and Salimans 2022)
 * in LlamaGen's form {@code u + s·(c − u)} over the code logits (s = 1: the conditional model alone), softmax at
 * temperature 1. Not a decoder for users: the pipelines decode the exported files; this measures the weights.
 */
final class ImagePriorSampler {
    private final LlamaNet net;
    private final ImagePriors.Setup setup;
    private final ImageLayout layout;

    ImagePriorSampler(LlamaNet net, ImagePriors.Setup setup) {
        this.net = net;
        this.setup = setup;
        this.layout = setup.layout();
    }

    /** One image's tokens per entry of {@code classes}, guidance scale {@code s}, randomness from {@code rng}. */
    int[][] sample(int[] classes, float s, SplittableRandom rng, NDManager manager) {
        if (setup.objective() instanceof TokenShuffleObjective o) {
            return tokenShuffle(o, classes, s, rng, manager);
        }
        if (setup.objective() instanceof GroupParallelImageObjective g) {
            return groups(g, classes, s, rng, manager);
        }
        return setup.multiScale() == null ? raster(classes, s, rng, manager) : nextScale(classes, s, rng, manager);
    }

    /**
     * Group-parallel priors step by step ({@link GroupParallelImageObjective#steps}): each step runs the prefix of
     * the sequence up to the step's end (no KV cache here) and draws the step's tokens from its rows, independently.
     */
    private int[][] groups(GroupParallelImageObjective g, int[] classes, float s, SplittableRandom rng,
                           NDManager manager) {
        int n = classes.length;
        boolean guided = s != 1f;
        int[] prompt = prompts(classes, guided);
        int rows = prompt.length;
        int[][] tokens = new int[rows][layout.tokensPerImage()];
        int v = net.config().vocabSize();
        for (int[] step : g.steps()) {
            int t = step[1];
            int[][] ids = new int[rows][];
            for (int r = 0; r < rows; r++) {
                ids[r] = Arrays.copyOf(g.inputs(prompt[r], tokens[r]), t);
            }
            try (NDManager scope = manager.newSubManager()) {
                float[] logits = net.forward(scope, ids, TrainingObjective.sequentialPositions(rows, t),
                        g.bias(scope, t)).toFloatArray();
                for (int p = step[0]; p < t; p++) {
                    for (int i = 0; i < n; i++) {
                        int tok = draw(logits, (i * t + p) * v, guided ? ((n + i) * t + p) * v : -1, s, layout.codes(), rng);
                        tokens[i][p] = tok;
                        if (guided) {
                            tokens[n + i][p] = tok;
                        }
                    }
                }
            }
        }
        return Arrays.copyOf(tokens, n);
    }

    /**
     * Token-Shuffle (Ma et al. 2025): one forward per window, each head's code drawn from its own slice; padding
     * tokens take the blank code (as in training), and the windows are put back into the 7x7 raster map.
     */
    private int[][] tokenShuffle(TokenShuffleObjective o, int[] classes, float s, SplittableRandom rng,
                                 NDManager manager) {
        int n = classes.length;
        boolean guided = s != 1f;
        int[] prompt = prompts(classes, guided);
        int rows = prompt.length;
        int k = o.heads();
        int windows = o.windowsPerImage();
        int v = layout.vocabSize();
        int vocab = o.vocabSize();
        // the padding mask: which (window, slot) entries are real tokens, from the shuffle of any map
        int[][] real = new int[windows][k];
        o.shuffle(new int[layout.tokensPerImage()], real);
        int[][] blankWindows = o.shuffle(new int[layout.tokensPerImage()], null);
        int[][] seq = new int[rows][1 + (windows - 1) * k];
        int[][][] drawn = new int[n][windows][k];
        for (int r = 0; r < rows; r++) {
            seq[r][0] = prompt[r];
        }
        for (int p = 0; p < windows; p++) {
            int t = p + 1;
            int[][] in = new int[rows][];
            for (int r = 0; r < rows; r++) {
                in[r] = Arrays.copyOf(seq[r], 1 + p * k);
            }
            try (NDManager scope = manager.newSubManager()) {
                NDArray weights = scope.create(o.inputWeights(in), new Shape(rows, t, vocab));
                float[] last = net.forwardMixture(scope, weights, TrainingObjective.sequentialPositions(rows, t),
                        o.bias(scope, t)).get(":, " + (t - 1) + ", :").toFloatArray();
                for (int i = 0; i < n; i++) {
                    for (int h = 0; h < k; h++) {
                        // a padding entry of the all-zero map's shuffle holds the blank code
                        int tok = real[p][h] == 1
                                ? draw(last, i * vocab + h * v, guided ? (n + i) * vocab + h * v : -1, s, layout.codes(), rng)
                                : blankWindows[p][h];
                        drawn[i][p][h] = tok;
                        if (p < windows - 1) {
                            seq[i][1 + p * k + h] = tok;
                            if (guided) {
                                seq[n + i][1 + p * k + h] = tok;
                            }
                        }
                    }
                }
            }
        }
        int[][] out = new int[n][];
        for (int i = 0; i < n; i++) {
            out[i] = o.unshuffle(drawn[i]);
        }
        return out;
    }

    /** The prompt rows: the class tokens, then (with guidance) as many null-class rows. */
    private int[] prompts(int[] classes, boolean guided) {
        int n = classes.length;
        int[] p = new int[guided ? 2 * n : n];
        for (int i = 0; i < n; i++) {
            p[i] = layout.classToken(classes[i]);
            if (guided) {
                p[n + i] = layout.nullClassToken();
            }
        }
        return p;
    }

    /**
     * Raster priors; a VF-prompt prior ({@link VfPromptObjective}) first draws its VF tokens from the VF ids (both
     * guidance rows get them, as the codes), and they are stripped from the result.
     */
    private int[][] raster(int[] classes, float s, SplittableRandom rng, NDManager manager) {
        int n = classes.length;
        boolean guided = s != 1f;
        int[] prompt = prompts(classes, guided);
        int rows = prompt.length;
        VfPromptObjective vf = ImagePriors.vfPart(setup);
        int prefix = vf == null ? 0 : vf.vfTokens();
        int len = prefix + layout.tokensPerImage();
        int[][] seq = new int[rows][1 + len];
        for (int r = 0; r < rows; r++) {
            seq[r][0] = prompt[r];
        }
        for (int j = 0; j < len; j++) {
            int t = j + 1;
            int[][] in = new int[rows][];
            for (int r = 0; r < rows; r++) {
                in[r] = Arrays.copyOf(seq[r], t);
            }
            try (NDManager scope = manager.newSubManager()) {
                NDArray logits = net.forward(scope, in, TrainingObjective.sequentialPositions(rows, t),
                        LlamaNet.bias(scope, t, (q, k) -> k <= q));
                float[] last = logits.get(":, " + (t - 1) + ", :").toFloatArray();
                int v = net.config().vocabSize();
                boolean prompting = j < prefix;
                int from = prompting ? vf.vfOffset() : 0;
                int width = prompting ? vf.vfCodes() : layout.codes();
                for (int i = 0; i < n; i++) {
                    int tok = from + draw(last, i * v + from, guided ? (n + i) * v + from : -1, s, width, rng);
                    seq[i][t] = tok;
                    if (guided) {
                        seq[n + i][t] = tok;
                    }
                }
            }
        }
        int[][] out = new int[n][];
        for (int i = 0; i < n; i++) {
            out[i] = Arrays.copyOfRange(seq[i], 1 + prefix, 1 + len);
        }
        return out;
    }

    private int[][] nextScale(int[] classes, float s, SplittableRandom rng, NDManager manager) {
        int n = classes.length;
        boolean guided = s != 1f;
        int[] prompt = prompts(classes, guided);
        int rows = prompt.length;
        NextScaleObjective o = (NextScaleObjective) setup.objective();
        int[] segment = o.segments();
        int[][] tokens = new int[rows][layout.tokensPerImage()];
        int v = net.config().vocabSize();
        for (int k = 0; k < layout.scaleCount(); k++) {
            int t = layout.scaleStart(k + 1);
            int[][] ids = new int[rows][t];
            for (int r = 0; r < rows; r++) {
                ids[r][0] = prompt[r];
                for (int p = 1; p < t; p++) {
                    ids[r][p] = layout.levelToken(segment[p]);
                }
            }
            try (NDManager scope = manager.newSubManager()) {
                NDArray weights = scope.create(o.inputWeights(ids, tokens, v), new Shape(rows, t, v));
                float[] logits = net.forwardMixture(scope, weights, TrainingObjective.sequentialPositions(rows, t),
                        o.bias(scope, t)).toFloatArray();
                for (int p = layout.scaleStart(k); p < t; p++) {
                    for (int i = 0; i < n; i++) {
                        int tok = draw(logits, (i * t + p) * v, guided ? ((n + i) * t + p) * v : -1, s,
                                layout.codes(), rng);
                        tokens[i][p] = tok;
                        if (guided) {
                            tokens[n + i][p] = tok;
                        }
                    }
                }
            }
        }
        return Arrays.copyOf(tokens, n);
    }

    /**
     * One of {@code codes} consecutive ids (its index) drawn from the guided distribution of the conditional row
     * starting at {@code c} and the unconditional at {@code u}.
     */
    private static int draw(float[] logits, int c, int u, float s, int codes, SplittableRandom rng) {
        double[] l = new double[codes];
        double max = Double.NEGATIVE_INFINITY;
        for (int x = 0; x < codes; x++) {
            l[x] = u < 0 ? logits[c + x] : logits[u + x] + s * (logits[c + x] - logits[u + x]);
            max = Math.max(max, l[x]);
        }
        double sum = 0;
        for (int x = 0; x < codes; x++) {
            l[x] = Math.exp(l[x] - max);
            sum += l[x];
        }
        double target = rng.nextDouble() * sum;
        for (int x = 0; x < codes; x++) {
            target -= l[x];
            if (target <= 0) {
                return x;
            }
        }
        return codes - 1;
    }
}
