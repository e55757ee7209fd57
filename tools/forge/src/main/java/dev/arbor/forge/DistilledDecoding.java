package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.generation.distilled.FlowMap;
import dev.arbor.models.images.PatchVqTokenizer;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cOnnxConverter;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * The forge's Distilled Decoding student (Liu et al. 2024, "Distilled Decoding 1: One-step Sampling of Image
 * Auto-regressive Models with Flow Matching", METHODS.md §3.17), {@code arbor forge distill <recipe>}:
 * <ol>
 *   <li><b>pairs</b>: the teacher ({@link DistilledTeacher}: fashion-ar with the flow map, as the
 *       {@code fashion-ar-flowmap} pipeline) maps (class, noise) to tokens, classes 0..9 in turn, noise from the
 *       recipe's seed per image; held-out pairs first (their own seed stream), then training pairs until the
 *       generation budget or the image count is reached;</li>
 *   <li><b>training</b> ({@link DistilledObjective}: first and second steps, full attention, alignment SAME) with
 *       {@link Trainer} under a wall-clock budget;</li>
 *   <li><b>export</b>: the llama2.c checkpoint, its card (attention BIDIRECTIONAL, alignment SAME, the held-out
 *       cross-entropy of each kind of step, the export check on input embeddings, the data-generation facts) and
 *       MODEL_CARD.md.</li>
 * </ol>
 * DD's own training and data-generation code is unreleased (its README's TODO); this is the documented form.
 */
final class DistilledDecoding {
    private final Path work;
    private final Path trained;
    private final Integer threads;
    private final Consumer<String> log;

    DistilledDecoding(Path work, Path trained, Integer threads, Consumer<String> log) {
        this.work = work;
        this.trained = trained;
        this.threads = threads;
        this.log = log;
    }

    /** A distill recipe (tools/forge/recipes/fashion-dd.json). */
    record DistillRecipe(String name, String description, long seed, Teacher teacher, Recipe.Architecture model,
                         double secondStepFraction, int evalSplit, Recipe.Optimizer optimizer, int steps,
                         int batchSize, int logEvery, int checkpointEvery, double timeBudgetMinutes) {

        /** The teacher and the pair generation. */
        record Teacher(String model, String tokenizer, double guidanceScale, double temperature, int topK,
                       double topP, int flowSteps, int images, int heldoutImages, double timeBudgetMinutes) {
        }

        static DistillRecipe read(Path file) {
            DistillRecipe r;
            try {
                r = Json.MAPPER.readValue(file.toFile(), DistillRecipe.class);
            } catch (IOException e) {
                throw ArborException.invalid("cannot read distill recipe " + file + ": " + e.getMessage());
            }
            String where = "recipe " + file + ": ";
            if (r.name == null || !r.name.matches("[a-z0-9][a-z0-9-]*") || r.teacher == null || r.model == null
                    || r.optimizer == null) {
                throw ArborException.invalid(where + "needs a lower-case name and the sections teacher, model and "
                        + "optimizer");
            }
            Teacher t = r.teacher;
            if (t.images < 1 || t.heldoutImages < 1 || t.flowSteps < 200 || !(t.guidanceScale >= 1)
                    || !(t.temperature > 0) || t.topK < 0 || !(t.topP > 0 && t.topP <= 1)) {
                throw ArborException.invalid(where + "teacher needs images and heldout_images >= 1, flow_steps >= 200 "
                        + "(METHODS §3.17), guidance_scale >= 1, temperature > 0, top_k >= 0, top_p in (0, 1]");
            }
            if (r.model.dim() % r.model.nHeads() != 0 || (r.model.dim() / r.model.nHeads()) % 2 != 0
                    || r.steps < 1 || r.batchSize < 1 || !(r.secondStepFraction >= 0 && r.secondStepFraction <= 1)) {
                throw ArborException.invalid(where + "dim must be a multiple of n_heads with an even head size, "
                        + "steps and batch_size positive, second_step_fraction in [0, 1]");
            }
            return r;
        }

        /** The Trainer's view of this recipe. */
        Recipe trainerRecipe() {
            return new Recipe(name, description, seed, null, null, model,
                    new Recipe.Objective("image-distilled", 0, 0), optimizer, steps, batchSize, logEvery,
                    checkpointEvery, 0, null, new Recipe.ImageSpec(teacher.tokenizer, 0, 0, 0));
        }
    }

    /** The layout of the teacher's tokenizer (the raster layout: one scale of 7). */
    static ImageLayout layout(PatchVqTokenizer tok) {
        return ImagePriors.layout(tok.codebookSize(), new int[] {7}, tok.codeVector(0).length);
    }

    /** The code vectors of a patch VQ tokenizer, the flow map's codebook. */
    static float[][] codeVectors(PatchVqTokenizer tok) {
        float[][] c = new float[tok.codebookSize()][];
        for (int k = 0; k < c.length; k++) {
            c[k] = tok.codeVector(k);
        }
        return c;
    }

    /** Noise of image {@code index} of a stream: [n·d] standard Gaussians from the stream's seed and the index. */
    static float[] noise(long streamSeed, int index, int values) {
        SplittableRandom rng = new SplittableRandom(streamSeed + 0x9E3779B97F4A7C15L * (index + 1L));
        float[] e = new float[values];
        for (int j = 0; j < values; j++) {
            e[j] = (float) rng.nextGaussian();
        }
        return e;
    }

    /** Facts of one pair generation, for the card. */
    record Generated(DistilledData data, double seconds, boolean budgetReached) {
    }

    static Generated generate(DistilledTeacher teacher, ImageLayout layout, long streamSeed, int max,
                              double budgetSeconds, Consumer<String> log, String what) {
        int n = layout.tokensPerImage();
        int d = layout.featureDim();
        int[] classes = new int[max];
        int[][] tokens = new int[max][];
        float[][] noise = new float[max][];
        long t0 = System.nanoTime();
        int done = 0;
        boolean budget = false;
        while (done < max) {
            double secs = (System.nanoTime() - t0) / 1e9;
            if (budgetSeconds > 0 && secs >= budgetSeconds) {
                budget = true;
                break;
            }
            int cls = done % layout.classCount();
            float[] e = noise(streamSeed, done, n * d);
            double[][] eps = new double[n][d];
            for (int p = 0; p < n; p++) {
                for (int j = 0; j < d; j++) {
                    eps[p][j] = e[p * d + j];
                }
            }
            classes[done] = cls;
            tokens[done] = teacher.tokens(cls, eps);
            noise[done] = e;
            done++;
            if (done % 500 == 0) {
                log.accept(String.format("%s pairs: %d images in %.0f s (%.1f ms/image)", what, done,
                        (System.nanoTime() - t0) / 1e9, (System.nanoTime() - t0) / 1e6 / done));
            }
        }
        DistilledData data = new DistilledData(layout, java.util.Arrays.copyOf(classes, done),
                java.util.Arrays.copyOf(tokens, done), java.util.Arrays.copyOf(noise, done));
        return new Generated(data, (System.nanoTime() - t0) / 1e9, budget);
    }

    /** Generates the pairs, trains and exports to {@code out}; returns {@code out}. */
    Path run(DistillRecipe r, Path out, boolean reusePairs) throws IOException {
        Path runDir = work.resolve("runs").resolve(r.name());
        Files.createDirectories(runDir);
        Path tokFile = trained.resolve(r.teacher().tokenizer());
        Path teacherFile = trained.resolve(r.teacher().model());
        PatchVqTokenizer tok = PatchVqTokenizer.read(tokFile);
        ImageLayout layout = layout(tok);
        FlowMap flow = new FlowMap(codeVectors(tok), r.teacher().flowSteps());
        Path heldFile = runDir.resolve("pairs-heldout.bin");
        Path trainFile = runDir.resolve("pairs-train.bin");
        ObjectNode gen = Json.MAPPER.createObjectNode();
        DistilledData held;
        DistilledData train;
        if (reusePairs && Files.isRegularFile(heldFile) && Files.isRegularFile(trainFile)) {
            held = DistilledData.read(heldFile, layout);
            train = DistilledData.read(trainFile, layout);
            gen = (ObjectNode) Json.MAPPER.readTree(runDir.resolve("pairs.json").toFile());
            log.accept(String.format("%s: reusing %d training and %d held-out pairs", r.name(), train.size(),
                    held.size()));
        } else {
            try (Llama2cReferenceModel model = Llama2cReferenceModel.open(teacherFile)) {
                DistilledTeacher teacher = new DistilledTeacher(model, layout, flow, r.teacher().guidanceScale(),
                        r.teacher().temperature(), r.teacher().topK(), r.teacher().topP());
                Generated h = generate(teacher, layout, r.seed() ^ 0x5DEECE66DL, r.teacher().heldoutImages(), 0,
                        log, "held-out");
                double left = r.teacher().timeBudgetMinutes() * 60 - h.seconds();
                Generated t = generate(teacher, layout, r.seed(), r.teacher().images(), Math.max(1, left), log,
                        "training");
                held = h.data();
                train = t.data();
                held.write(heldFile);
                train.write(trainFile);
                gen.put("teacher_model", r.teacher().model());
                gen.put("tokenizer", r.teacher().tokenizer());
                gen.put("guidance_scale", r.teacher().guidanceScale());
                gen.put("cfg_convention", "llamagen");
                gen.put("temperature", r.teacher().temperature());
                gen.put("top_k", r.teacher().topK());
                gen.put("top_p", r.teacher().topP());
                gen.put("flow_steps", r.teacher().flowSteps());
                gen.put("train_images", train.size());
                gen.put("train_images_planned", r.teacher().images());
                gen.put("heldout_images", held.size());
                gen.put("generation_budget_reached", t.budgetReached());
                gen.put("generation_seconds", Math.round(h.seconds() + t.seconds()));
                gen.put("ms_per_image", 1000 * (h.seconds() + t.seconds()) / (held.size() + train.size()));
                gen.put("threads", 1);
                gen.put("runtime", "Llama2cReferenceModel (pure Java, KV cache, batch of the conditional and "
                        + "unconditional rows) + FlowMap, one thread");
                Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(runDir.resolve("pairs.json").toFile(), gen);
            }
        }
        log.accept(String.format("%s: %d training and %d held-out pairs", r.name(), train.size(), held.size()));

        DjlSetup.configure(threads);
        Recipe tr = r.trainerRecipe();
        int n = layout.tokensPerImage();
        Llama2cConfig cfg = new Llama2cConfig(r.model().dim(), r.model().hiddenDim(), r.model().nLayers(),
                r.model().nHeads(), r.model().nHeads(), layout.vocabSize(), Math.max(r.model().seqLen(), n + 1),
                r.model().sharedClassifier());
        cfg.validate(r.name());
        ObjectNode card = Json.MAPPER.createObjectNode();
        Path bin = out.resolve(r.name() + ".bin");
        Files.createDirectories(out);
        long start = System.nanoTime();
        try (NDManager manager = NDManager.newBaseManager(); LlamaNet net = LlamaNet.init(cfg, r.seed(), manager)) {
            log.accept(String.format("%s: %,d parameters (dim %d, hidden %d, %d layers, %d heads), %d steps x %d, "
                            + "PyTorch threads %d", r.name(), net.parameterCount(), cfg.dim(), cfg.hiddenDim(),
                    cfg.nLayers(), cfg.nHeads(), r.steps(), r.batchSize(), DjlSetup.threads()));
            Trainer trainer = new Trainer(tr, net,
                    DistilledObjective.training(layout, train, r.secondStepFraction()), manager, log);
            trainer.timeBudget(r.timeBudgetMinutes() * 60);
            List<Float> losses = trainer.run(train, manager, runDir);
            double trainSeconds = (System.nanoTime() - start) / 1e9;
            int batches = (held.size() + r.batchSize() - 1) / r.batchSize();
            double ce1 = Trainer.heldOutLoss(net, DistilledObjective.fixed(layout, held, 0), held, cfg.seqLen(),
                    r.batchSize(), batches, r.seed(), manager);
            double ce2 = Trainer.heldOutLoss(net, DistilledObjective.fixed(layout, held, r.evalSplit()), held,
                    cfg.seqLen(), r.batchSize(), batches, r.seed(), manager);
            log.accept(String.format("%s: held-out cross-entropy %.4f (first step), %.4f (second step at %d)",
                    r.name(), ce1, ce2, r.evalSplit()));
            net.writeCheckpoint(bin);

            card.put("name", r.name());
            card.putNull("bos");
            card.putArray("eos");
            card.putNull("pad");
            card.putNull("mask");
            card.put("alignment", "SAME");
            card.put("attention", "BIDIRECTIONAL");
            card.put("block_size", 0);
            ObjectNode image = card.putObject("image");
            image.put("tokenizer", tokFile.getFileName().toString());
            image.put("layout", "distilled");
            image.put("tokenizer_sha256", Llama2cOnnxConverter.sha256(tokFile));
            image.put("codes", layout.codes());
            image.set("scales", Json.MAPPER.valueToTree(layout.scales()));
            image.put("tokens_per_image", n);
            image.put("vocab_size", layout.vocabSize());
            image.set("classes", Json.MAPPER.valueToTree(layout.classNames()));
            image.put("input", "position 0: E[class] (+ E[level 0] on a second step); position 1+i: E[code_i] "
                    + "before the split, sum_j eps_ij E[basis j] at and after it (dev.arbor.generation.distilled."
                    + "StudentInput); logits row 1+i = token i");
            card.put("description", r.description());
            card.put("license", "Apache-2.0 (weights trained by Arbor's model forge on pairs from fashion-ar, "
                    + "itself trained on Fashion-MNIST, MIT, Zalando Research)");
            card.put("parameters", net.parameterCount());
            card.set("architecture", Json.MAPPER.valueToTree(r.model()));
            ObjectNode obj = card.putObject("objective");
            obj.put("kind", "distilled-decoding");
            obj.put("second_step_fraction", r.secondStepFraction());
            obj.put("method", "cross-entropy of the teacher's tokens; a first step (all noise, 49 tokens scored) or, "
                    + "with probability second_step_fraction, a second step at a split uniform in 1..48 (teacher "
                    + "tokens before it as codes, the tokens at and after it scored); DD's training code is "
                    + "unreleased, this is the documented form of METHODS.md 3.17");
            card.set("data", gen);
            ObjectNode training = card.putObject("training");
            training.put("recipe", "tools/forge/recipes/" + r.name() + ".json");
            training.put("seed", r.seed());
            training.put("steps", trainer.totalSteps());
            training.put("recipe_steps", r.steps());
            training.put("batch_size", r.batchSize());
            training.put("images_seen", (long) trainer.totalSteps() * r.batchSize());
            training.put("epochs", (double) trainer.totalSteps() * r.batchSize() / train.size());
            training.put("wall_seconds", Math.round(trainSeconds));
            training.put("threads", DjlSetup.threads());
            training.put("time_budget_minutes", r.timeBudgetMinutes());
            training.set("time_budget_caps", Json.MAPPER.valueToTree(trainer.caps()));
            training.put("train_loss_first", losses.get(0));
            training.put("train_loss_last100_mean", losses.subList(Math.max(0, losses.size() - 100), losses.size())
                    .stream().mapToDouble(Float::doubleValue).filter(Double::isFinite).average().orElse(Double.NaN));
            training.put("skipped_steps", trainer.skippedSteps());
            training.set("optimizer", Json.MAPPER.valueToTree(r.optimizer()));
            training.put("framework", "DJL " + ai.djl.engine.Engine.getDjlVersion() + ", PyTorch engine, CPU");
            ObjectNode eval = card.putObject("evaluation");
            eval.put("heldout_ce_first_step", ce1);
            eval.put("heldout_ce_second_step", ce2);
            eval.put("second_step_split", r.evalSplit());
            eval.put("heldout_images", held.size());
            eval.put("metric", "cross-entropy (nats/token) of the teacher's tokens on held-out pairs (noise from "
                    + "their own seed stream): first step over all 49 tokens; second step over the tokens at and "
                    + "after the split, the teacher's tokens kept before it");
            card.set("export_check", exportCheck(bin, net, layout, held, r.evalSplit()));
        }
        Path classifier = trained.resolve("fashion-judge").resolve("fashion-judge.params");
        if (Files.isRegularFile(classifier)) {
            card.with("measurements").set("class_accuracy", classAccuracy(bin, tok, layout, held, r.evalSplit(),
                    classifier, out.resolve("samples.png")));
        }
        Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(out.resolve(r.name() + ".card.json").toFile(), card);
        Files.writeString(out.resolve("MODEL_CARD.md"), markdown(card), StandardCharsets.UTF_8);
        log.accept(r.name() + ": exported to " + out);
        return out;
    }

    /** The DJL network against {@link Llama2cReferenceModel} on the exported file, inputs as embeddings. */
    static ObjectNode exportCheck(Path bin, LlamaNet trainedNet, ImageLayout layout, DistilledData held, int split) {
        Llama2cCheckpoint weights = Llama2cCheckpoint.read(bin);
        Llama2cConfig cfg = weights.config();
        DistilledObjective o = DistilledObjective.fixed(layout, held, split);
        int[][] windows = {held.window(0, layout.tokensPerImage() + 2), held.window(1, layout.tokensPerImage() + 2)};
        TrainingObjective.Batch b0 = DistilledObjective.fixed(layout, held, 0).batch(new int[][] {windows[0]},
                new SplittableRandom(0));
        TrainingObjective.Batch b1 = o.batch(new int[][] {windows[1]}, new SplittableRandom(0));
        int[][] ids = {b0.tokens()[0], b1.tokens()[0]};
        int t = layout.tokensPerImage() + 1;
        float[] flat = o.inputWeights(ids, cfg.vocabSize());
        float[][][] djl;
        float[][][] ref;
        try (NDManager manager = NDManager.newBaseManager(); LlamaNet net = LlamaNet.of(weights, manager);
             Llama2cReferenceModel model = new Llama2cReferenceModel(weights, bin.getFileName().toString())) {
            NDArray mix = manager.create(flat, new Shape(2, t, cfg.vocabSize()));
            float[] l = net.forwardMixture(manager, mix, TrainingObjective.sequentialPositions(2, t), null)
                    .toFloatArray();
            djl = new float[2][t][cfg.vocabSize()];
            for (int r = 0; r < 2; r++) {
                for (int p = 0; p < t; p++) {
                    System.arraycopy(l, (r * t + p) * cfg.vocabSize(), djl[r][p], 0, cfg.vocabSize());
                }
            }
            float[][][] x = NextScaleObjective.embeddings(flat, 2, t, weights.tokenEmbedding(), cfg.dim());
            ref = model.forward(ForwardRequest.builderForEmbeddings(x).attention(AttentionSpec.FULL).build())
                    .logits();
        }
        ObjectNode chk = Json.MAPPER.createObjectNode();
        chk.put("reference", "Llama2cReferenceModel on the exported file vs the DJL network of the same file");
        chk.put("attention_spec", "Full");
        chk.put("input", "input embeddings (StudentInput mixtures): one first step and one second step at split "
                + split);
        chk.put("rows", 2);
        chk.put("positions", t);
        chk.put("max_abs_logit_diff_reference", ExportCheck.maxAbsDiff(djl, ref));
        return chk;
    }

    /**
     * fashion-judge's class accuracy of the teacher's held-out images and of the student's one- and two-step images
     * from the same noise (the student on the exported file through {@link Llama2cReferenceModel}); the two-step
     * images go to {@code grid} (one row per class).
     */
    ObjectNode classAccuracy(Path bin, PatchVqTokenizer tok, ImageLayout layout, DistilledData held, int split,
                             Path classifier, Path grid) throws IOException {
        int count = held.size();
        int n = layout.tokensPerImage();
        int[] labels = new int[count];
        float[][] teacher = new float[count][];
        float[][] one = new float[count][];
        float[][] two = new float[count][];
        int agreeOne = 0;
        int agreeTwo = 0;
        try (Llama2cReferenceModel model = Llama2cReferenceModel.open(bin)) {
            float[] table = model.weights().tokenEmbedding();
            int dim = model.weights().config().dim();
            int vocab = model.weights().config().vocabSize();
            for (int i = 0; i < count; i++) {
                labels[i] = held.classOf(i);
                teacher[i] = tok.decode(held.tokens(i));
                float[] eps = new float[n * layout.featureDim()];
                for (int p = 0; p < n; p++) {
                    for (int j = 0; j < layout.featureDim(); j++) {
                        eps[p * layout.featureDim() + j] = held.noise(i, p, j);
                    }
                }
                int[] first = studentStep(model, table, dim, vocab, layout, labels[i], new int[0], 0, eps);
                int[] kept = java.util.Arrays.copyOf(first, split);
                int[] second = studentStep(model, table, dim, vocab, layout, labels[i], kept, split, eps);
                System.arraycopy(kept, 0, second, 0, split);
                one[i] = tok.decode(first);
                two[i] = tok.decode(second);
                for (int p = 0; p < n; p++) {
                    agreeOne += first[p] == held.tokens(i)[p] ? 1 : 0;
                    agreeTwo += second[p] == held.tokens(i)[p] ? 1 : 0;
                }
            }
        }
        ObjectNode acc = Json.MAPPER.createObjectNode();
        try (FashionJudge fj = FashionJudge.load(classifier, threads)) {
            acc.put("teacher", fj.accuracy(teacher, labels));
            acc.put("one_step", fj.accuracy(one, labels));
            acc.put("two_step", fj.accuracy(two, labels));
        }
        acc.put("token_agreement_one_step", (double) agreeOne / (count * n));
        acc.put("token_agreement_two_step", (double) agreeTwo / (count * n));
        acc.put("images", count);
        acc.put("method", "the held-out pairs' noise: teacher = the pair's tokens; one step = argmax of the "
                + "student's first step; two step = its first " + split + " tokens, then the argmax of the second "
                + "step at split " + split + " (same noise); decoded by the patch VQ and classified by "
                + "fashion-judge; token agreement = fraction of tokens equal to the teacher's");
        int perClass = Math.min(8, count / layout.classCount());
        if (perClass > 0) {
            int side = ImagePriors.SIDE;
            float[][] pixels = new float[layout.classCount() * side][perClass * side];
            for (int i = 0; i < perClass * layout.classCount(); i++) {
                int row = labels[i];
                int col = i / layout.classCount();
                for (int y = 0; y < side; y++) {
                    System.arraycopy(two[i], y * side, pixels[row * side + y], col * side, side);
                }
            }
            Files.write(grid, dev.arbor.api.image.Png.encode(pixels));
        }
        return acc;
    }

    /** One student forward on the reference model: the argmax code of every token. */
    static int[] studentStep(Llama2cReferenceModel model, float[] table, int dim, int vocab, ImageLayout layout,
                             int cls, int[] kept, int split, float[] eps) {
        int n = layout.tokensPerImage();
        dev.arbor.generation.distilled.StudentInput.Mixture[] m =
                dev.arbor.generation.distilled.StudentInput.of(layout, cls, kept, split, eps);
        float[][][] x = new float[1][n + 1][dim];
        for (int p = 0; p <= n; p++) {
            for (int k = 0; k < m[p].ids().length; k++) {
                int id = m[p].ids()[k];
                float w = m[p].weights()[k];
                for (int c = 0; c < dim; c++) {
                    x[0][p][c] += w * table[id * dim + c];
                }
            }
        }
        float[][] logits = model.forward(ForwardRequest.builderForEmbeddings(x).attention(AttentionSpec.FULL).build())
                .logits()[0];
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int k = 1; k < layout.codes(); k++) {
                if (logits[1 + i][k] > logits[1 + i][best]) {
                    best = k;
                }
            }
            out[i] = best;
        }
        return out;
    }

    static String markdown(ObjectNode c) {
        StringBuilder b = new StringBuilder();
        var a = c.get("architecture");
        var t = c.get("training");
        var d = c.get("data");
        var e = c.get("evaluation");
        var x = c.get("export_check");
        b.append("# ").append(c.get("name").asText()).append("\n\n").append(c.get("description").asText())
                .append("\n\n");
        b.append("## Files\n\n- `").append(c.get("name").asText()).append(".bin`: llama2.c checkpoint (fp32).\n- `")
                .append(c.get("name").asText()).append(".card.json`: the sidecar `Llama2cModelCard` reads (alignment ")
                .append("SAME, attention BIDIRECTIONAL) plus this card's figures.\n\n");
        b.append("## Input and output\n\n").append(c.get("image").get("input").asText()).append(". Vocabulary: the ")
                .append("fashion-ar layout (").append(c.get("image").get("vocab_size").asInt())
                .append(" ids); only codes are read from the logits.\n\n");
        b.append(String.format(Locale.ROOT, "## Architecture%n%nllama2.c transformer: dim %d, hidden %d (SwiGLU), %d "
                        + "layers, %d heads, full attention; %,d parameters.%n%n", a.get("dim").asInt(),
                a.get("hidden_dim").asInt(), a.get("n_layers").asInt(), a.get("n_heads").asInt(),
                c.get("parameters").asLong()));
        b.append("## Data (the teacher)\n\n");
        b.append(String.format(Locale.ROOT, "%,d training and %,d held-out pairs (class, noise, tokens): `%s` with the "
                        + "teacher flow map (dev.arbor.generation.distilled.FlowMap, %d Euler steps) choosing each "
                        + "token from its noise, classifier-free guidance s = %.1f (LlamaGen), temperature %.1f, "
                        + "top-k %d, top-p %.2f (the fashion-ar-flowmap pipeline); classes 0..9 in turn. Generated in "
                        + "%s (%.1f ms/image) by %s%s.%n%n", d.get("train_images").asInt(),
                d.get("heldout_images").asInt(), d.get("teacher_model").asText(), d.get("flow_steps").asInt(),
                d.get("guidance_scale").asDouble(), d.get("temperature").asDouble(), d.get("top_k").asInt(),
                d.get("top_p").asDouble(), Trainer.hms(d.get("generation_seconds").asDouble()),
                d.get("ms_per_image").asDouble(), d.get("runtime").asText(),
                d.get("generation_budget_reached").asBoolean() ? "; the generation stopped at its time budget"
                        : ""));
        b.append("`arbor forge distill forge/recipes/").append(c.get("name").asText()).append(".json --threads 1` ")
                .append("reproduces the run. The number of training pairs follows the machine's pace (the generation ")
                .append("budget); `--images N` fixes it, and the pair of image i depends only on the seed and i.\n\n");
        b.append("## Objective\n\n").append(c.get("objective").get("method").asText()).append(".\n\n");
        b.append(String.format(Locale.ROOT, "## Training%n%n%,d steps of batch %d (%.2f epochs of the pairs), AdamW "
                        + "lr %.1e, %s, %d thread; wall time %s (budget %.0f min; 2-core machine shared with other "
                        + "jobs). Training loss: first step %.4f, mean of the last 100 steps %.4f.%n%n",
                t.get("steps").asInt(), t.get("batch_size").asInt(), t.get("epochs").asDouble(),
                t.get("optimizer").get("lr").asDouble(), t.get("framework").asText(), t.get("threads").asInt(),
                Trainer.hms(t.get("wall_seconds").asDouble()), t.get("time_budget_minutes").asDouble(),
                t.get("train_loss_first").asDouble(), t.get("train_loss_last100_mean").asDouble()));
        b.append(String.format(Locale.ROOT, "## Evaluation%n%n**Held-out cross-entropy:** first step %.4f, second "
                        + "step (split %d) %.4f nats/token (%s; %d images).%n%n",
                e.get("heldout_ce_first_step").asDouble(), e.get("second_step_split").asInt(),
                e.get("heldout_ce_second_step").asDouble(), e.get("metric").asText(),
                e.get("heldout_images").asInt()));
        b.append(String.format(Locale.ROOT, "**Export check:** max |logit difference| %.2e between the DJL network "
                        + "and `Llama2cReferenceModel` on the exported file (%s, %s attention).%n%n",
                x.get("max_abs_logit_diff_reference").asDouble(), x.get("input").asText(),
                x.get("attention_spec").asText()));
        var ca = c.path("measurements").path("class_accuracy");
        if (!ca.isMissingNode()) {
            b.append(String.format(Locale.ROOT, "**Class accuracy** (fashion-judge): teacher %.3f, one step %.3f, "
                            + "two steps %.3f; token agreement with the teacher %.3f (one step), %.3f (two steps) "
                            + "(%s). samples.png: two-step images, one row per class.%n%n",
                    ca.get("teacher").asDouble(), ca.get("one_step").asDouble(), ca.get("two_step").asDouble(),
                    ca.get("token_agreement_one_step").asDouble(), ca.get("token_agreement_two_step").asDouble(),
                    ca.get("method").asText()));
        }
        b.append("## Provenance\n\nDistilled Decoding: Liu et al. 2024, \"Distilled Decoding 1: One-step Sampling of "
                + "Image Auto-regressive Models with Flow Matching\" (github.com/microsoft/distilled_decoding). Its "
                + "data-generation and training code are unreleased; this model follows the documented form of "
                + "METHODS.md 3.17.\n\n## License\n\n").append(c.get("license").asText()).append(".\n");
        return b.toString();
    }
}
