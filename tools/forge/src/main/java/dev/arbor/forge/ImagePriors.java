package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.images.MultiScaleVq;
import dev.arbor.models.images.PatchVqTokenizer;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cOnnxConverter;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The forge's class-conditional Fashion-MNIST priors (recipes with objective {@code image-raster},
 * {@code image-next-scale}, {@code image-token-shuffle}, {@code image-group-parallel} or {@code image-vf-prompt}):
 * tokenizes the train and test splits once with the recipe's VQ tokenizer, trains with {@link Trainer}, measures the
 * held-out loss on the test split, and exports the llama2.c checkpoint with its card sidecar ({@code image.tokenizer},
 * {@code image.layout}) and MODEL_CARD.md, the export check included.
 */
public final class ImagePriors {
    /** Side of a Fashion-MNIST image. */
    public static final int SIDE = FashionMnist.SIDE;

    private final Path work;
    private final Path trained;
    private final Integer threads;
    private final Consumer<String> log;

    /** Runs under {@code work}; tokenizers from {@code trained} (see {@link #tokenizerFile}). */
    public ImagePriors(Path work, Path trained, Integer threads, Consumer<String> log) {
        this.work = work;
        this.trained = trained;
        this.threads = threads;
        this.log = log;
    }

    /** The vocabulary layout of a Fashion-MNIST prior over {@code codes} codes at {@code scales} (feature dim 16). */
    public static ImageLayout layout(int codes, int[] scales, int featureDim) {
        List<String> names = FashionMnist.CLASS_NAMES.stream().map(n -> n.toLowerCase(Locale.ROOT)).toList();
        return new ImageLayout(SIDE, SIDE, codes, names, scales, featureDim);
    }

    /** A recipe's tokenizer with its layout and objective. */
    public record Setup(ImageLayout layout, Function<float[], int[]> encoder, Function<int[], float[]> decoder,
                        TrainingObjective objective,
                        TrainingObjective heldOutObjective, MultiScaleVq multiScale, Path tokenizerFile,
                        String layoutName) {
    }

    /**
     * The tokenizer file of a recipe: {@code image.tokenizer} resolved against {@code trained}, the folder of the
     * trained models (models/trained in the repository, models/ in an installation); an absolute path as is.
     */
    public static Path tokenizerFile(Recipe r, Path trained) {
        Path p = trained.resolve(r.image().tokenizer());
        if (!Files.isRegularFile(p)) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "recipe " + r.name() + ": image tokenizer "
                    + p.toAbsolutePath() + " not found; pass the folder holding " + r.image().tokenizer()
                    + " with --trained (TrainFashionTokenizers writes the files)");
        }
        return p;
    }

    /** Reads the recipe's tokenizer and builds its layout and objective. */
    public static Setup setup(Recipe r, Path trained) {
        Path file = tokenizerFile(r, trained);
        double dropout = r.image().condDropout();
        if (r.objective().kind().equals(GroupParallelImageObjective.KIND)) {
            return GroupParallelImageObjective.setup(r, file);
        }
        if (r.objective().kind().equals("image-raster")) {
            PatchVqTokenizer tok = PatchVqTokenizer.read(file);
            ImageLayout layout = layout(tok.codebookSize(), new int[] {7}, tok.codeVector(0).length);
            RasterImageObjective o = new RasterImageObjective(layout, dropout);
            return new Setup(layout, tok::encode, tok::decode, o, o.conditional(), null, file, "raster");
        }
        if (r.objective().kind().equals("image-token-shuffle")) {
            PatchVqTokenizer tok = PatchVqTokenizer.read(file);
            ImageLayout layout = layout(tok.codebookSize(), new int[] {7}, tok.codeVector(0).length);
            int blank = tok.encode(new float[SIDE * SIDE])[0]; // the padding: the code of an all-black patch
            TokenShuffleObjective o = new TokenShuffleObjective(layout, r.objective().window(), blank, dropout);
            return new Setup(layout, tok::encode, tok::decode, o, o.conditional(), null, file, "token-shuffle");
        }
        if (r.objective().kind().equals("image-vf-prompt")) {
            return vfSetup(r, trained, file, dropout);
        }
        MultiScaleVq tok = MultiScaleVq.read(file);
        ImageLayout layout = layout(tok.codebookSize(), tok.scales(), tok.codeVector(0).length);
        NextScaleObjective o = new NextScaleObjective(layout, tok, dropout);
        return new Setup(layout, tok::encode, tok::decode, o, o.conditional(), tok, file, "next-scale");
    }

    /**
     * A VF-prompt prior's setup ({@link VfPromptObjective}): the raster layout of the patch VQ, windows
     * {@code [class, VF ids, codes]}; the held-out objective scores the image codes (the VF part is in
     * {@link #vfPart}); the decoder takes the 49 codes (the VF tokens are stripped before decoding).
     */
    static Setup vfSetup(Recipe r, Path trained, Path file, double dropout) {
        PatchVqTokenizer tok = PatchVqTokenizer.read(file);
        ImageLayout layout = layout(tok.codebookSize(), new int[] {7}, tok.codeVector(0).length);
        Path vfFile = trained.resolve(r.image().vfTokenizer());
        if (!Files.isRegularFile(vfFile)) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "recipe " + r.name() + ": VF tokenizer "
                    + vfFile.toAbsolutePath() + " not found; pass the folder holding " + r.image().vfTokenizer()
                    + " with --trained");
        }
        MultiScaleVq full = MultiScaleVq.read(vfFile);
        if (r.image().vfScales() > full.scales().length) {
            throw ArborException.invalid("recipe " + r.name() + ": vf_scales " + r.image().vfScales() + " exceeds the "
                    + full.scales().length + " scales of " + vfFile.getFileName());
        }
        int vfTokens = full.tokenOffset(r.image().vfScales());
        VfPromptObjective o = new VfPromptObjective(layout, vfTokens, full.codebookSize(), dropout,
                VfPromptObjective.Part.ALL);
        return new Setup(layout, VfPromptObjective.encoder(tok, full, vfTokens, o.vfOffset()), tok::decode, o,
                o.conditional(VfPromptObjective.Part.IMAGE), null, file, "vf-prompt");
    }

    /** The VF-prompt objective of a setup, or null for the other priors. */
    static VfPromptObjective vfPart(Setup s) {
        return s.objective() instanceof VfPromptObjective v ? v : null;
    }

    /** Ids per image after the class token: the layout's image tokens, plus the VF tokens of a VF-prompt prior. */
    static int tokensPerWindow(Setup s) {
        VfPromptObjective v = vfPart(s);
        return v == null ? s.layout().tokensPerImage() : v.sequenceTokens();
    }

    /** The llama2.c header of a setup's prior: the vocabulary is the layout's (plus the VF ids of a VF prior). */
    public static Llama2cConfig config(Recipe r, Setup s) {
        VfPromptObjective v = vfPart(s);
        if (v == null) {
            return config(r, s.layout());
        }
        Recipe.Architecture a = r.model();
        if (a.seqLen() < 1 + v.sequenceTokens()) {
            throw ArborException.invalid("recipe " + r.name() + ": seq_len " + a.seqLen() + " is shorter than the "
                    + (1 + v.sequenceTokens()) + " positions of a VF-prompt sequence");
        }
        Llama2cConfig cfg = new Llama2cConfig(a.dim(), a.hiddenDim(), a.nLayers(), a.nHeads(), a.nHeads(),
                v.vocabSize(), a.seqLen(), a.sharedClassifier());
        cfg.validate(r.name());
        return cfg;
    }

    /** The llama2.c header of a recipe's prior: the vocabulary is the layout's. */
    public static Llama2cConfig config(Recipe r, ImageLayout layout) {
        Recipe.Architecture a = r.model();
        TokenShuffleObjective shuffle = r.objective().kind().equals("image-token-shuffle")
                ? new TokenShuffleObjective(layout, r.objective().window(), 0, 0) : null;
        boolean groups = r.objective().kind().equals(GroupParallelImageObjective.KIND);
        int needed = shuffle != null ? shuffle.windowsPerImage()
                : r.objective().kind().equals("image-raster") ? 1 + layout.tokensPerImage()
                : layout.tokensPerImage();
        // a group-parallel prior's vocabulary adds its G - 1 learned query tokens
        int vocab = layout.vocabSize() + (groups ? r.objective().groupSize() - 1 : 0);
        if (a.seqLen() < needed) {
            throw ArborException.invalid("recipe " + r.name() + ": seq_len " + a.seqLen() + " is shorter than the "
                    + needed + " positions of an image sequence");
        }
        Llama2cConfig cfg = new Llama2cConfig(a.dim(), a.hiddenDim(), a.nLayers(), a.nHeads(), a.nHeads(),
                shuffle != null ? shuffle.vocabSize() : vocab, a.seqLen(), a.sharedClassifier());
        cfg.validate(r.name());
        return cfg;
    }

    /** The run folder of a recipe. */
    public Path runDir(Recipe r) {
        return work.resolve("runs").resolve(r.name());
    }

    /**
     * Trains the recipe; writes {@code final.bin}, {@code recipe.json} and {@code run.json} (steps, wall time,
     * held-out loss on the test split) into the run folder and returns it.
     */
    public Path train(Recipe r, double budgetMinutes) throws IOException {
        Path runDir = runDir(r);
        Files.createDirectories(runDir);
        Setup s = setup(r, trained);
        long t0 = System.nanoTime();
        FashionMnist trainSplit = FashionMnist.load(FashionMnist.Split.TRAIN);
        FashionMnist testSplit = FashionMnist.load(FashionMnist.Split.TEST);
        ImageData train = ImageData.encode(trainSplit.images(), trainSplit.labels(), r.image().trainLimit(),
                s.layout(), s.encoder(), tokensPerWindow(s));
        ImageData test = ImageData.encode(testSplit.images(), testSplit.labels(), r.image().heldoutLimit(),
                s.layout(), s.encoder(), tokensPerWindow(s));
        log.accept(String.format("%s: tokenized %d training and %d test images with %s in %.1f s", r.name(),
                train.size(), test.size(), s.tokenizerFile().getFileName(), (System.nanoTime() - t0) / 1e9));
        DjlSetup.configure(threads);
        Llama2cConfig cfg = config(r, s);
        int evalBatches = Math.max(1, Math.min(r.evalBatches(), (test.size() + r.batchSize() - 1) / r.batchSize()));
        long start = System.nanoTime();
        try (NDManager manager = NDManager.newBaseManager();
             LlamaNet net = LlamaNet.init(cfg, r.seed(), manager)) {
            log.accept(String.format("%s: %s objective, %,d parameters (dim %d, hidden %d, %d layers, %d heads, "
                            + "seq_len %d, vocab %d), %d steps x %d images, PyTorch threads %d", r.name(),
                    r.objective().kind(), net.parameterCount(), cfg.dim(), cfg.hiddenDim(), cfg.nLayers(),
                    cfg.nHeads(), cfg.seqLen(), cfg.vocabSize(), r.steps(), r.batchSize(), DjlSetup.threads()));
            Trainer trainer = new Trainer(r, net, s.objective(), manager, log);
            trainer.timeBudget(budgetMinutes * 60);
            List<Float> losses = trainer.run(train, manager, runDir);
            double trainSeconds = (System.nanoTime() - start) / 1e9;
            long e0 = System.nanoTime();
            double held = Trainer.heldOutLoss(net, s.heldOutObjective(), test, cfg.seqLen(), r.batchSize(),
                    evalBatches, r.seed(), manager);
            int heldImages = Math.min(evalBatches * r.batchSize(), test.size());
            log.accept(String.format("%s: held-out loss %.4f nats/token on %d test images (%.1f s)", r.name(), held,
                    heldImages, (System.nanoTime() - e0) / 1e9));
            VfPromptObjective vf = vfPart(s);
            double heldVf = Double.NaN;
            if (vf != null) {
                heldVf = Trainer.heldOutLoss(net, vf.conditional(VfPromptObjective.Part.VF), test, cfg.seqLen(),
                        r.batchSize(), evalBatches, r.seed(), manager);
                log.accept(String.format("%s: held-out loss of the %d VF tokens %.4f nats/token", r.name(),
                        vf.vfTokens(), heldVf));
            }
            net.writeCheckpoint(runDir.resolve("final.bin"));
            Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(runDir.resolve("recipe.json").toFile(), r);
            int tokensPerImage = s.layout().tokensPerImage();
            ObjectNode run = trainer.runFacts(net, budgetMinutes, train.size(), trainSeconds, losses, held,
                    heldImages);
            run.put("tokens_seen", (long) trainer.totalSteps() * r.batchSize() * tokensPerImage);
            if (vf != null) {
                run.put("heldout_loss_vf", heldVf);
            }
            run.put("heldout_tokens", (long) heldImages * tokensPerImage);
            Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(runDir.resolve("run.json").toFile(), run);
        }
        return runDir;
    }

    /** Largest |logit| difference between the DJL network of the exported file and the reference model. */
    public record Check(double maxAbsDiff, int rows, int positions, String attention, String input) {
    }

    /**
     * The export check on two test images (the first with its class token, the second with the null class): the
     * DJL network of the exported weights against {@link Llama2cReferenceModel} on the same file, raster priors on
     * token ids with Causal attention, next-scale priors on input embeddings with Segments (segment = scale).
     */
    public static Check exportCheck(Path checkpoint, Setup s, int[][] windows) {
        Llama2cCheckpoint weights = Llama2cCheckpoint.read(checkpoint);
        Llama2cConfig cfg = weights.config();
        int b = windows.length;
        int[][] rows = new int[b][];
        for (int i = 0; i < b; i++) {
            rows[i] = windows[i].clone();
            if (i % 2 == 1) {
                rows[i][0] = s.layout().nullClassToken();
            }
        }
        float[][][] djl;
        float[][][] ref;
        try (NDManager manager = NDManager.newBaseManager(); LlamaNet net = LlamaNet.of(weights, manager);
             Llama2cReferenceModel model = new Llama2cReferenceModel(weights, checkpoint.getFileName().toString())) {
            if (s.objective() instanceof TokenShuffleObjective o) {
                TrainingObjective.Batch batch = o.conditional().batch(rows, new java.util.SplittableRandom(0));
                int t = o.windowsPerImage();
                float[] flat = o.inputWeights(batch.tokens());
                NDArray mix = manager.create(flat, new Shape(b, t, cfg.vocabSize()));
                djl = unpack(net.forwardMixture(manager, mix, batch.positions(), o.bias(manager, t)), b, t,
                        cfg.vocabSize());
                float[][][] x = NextScaleObjective.embeddings(flat, b, t, weights.tokenEmbedding(), cfg.dim());
                ref = model.forward(ForwardRequest.builderForEmbeddings(x).attention(AttentionSpec.CAUSAL).build())
                        .logits();
                return new Check(ExportCheck.maxAbsDiff(djl, ref), b, t, "Causal",
                        "input embeddings: class token, then merged windows sum_h E[h*V + code_h]");
            }
            if (s.objective() instanceof GroupParallelImageObjective g) {
                int t = g.positions();
                int[][] in = new int[b][];
                int[][] seg = new int[b][];
                for (int r = 0; r < b; r++) {
                    in[r] = g.inputs(rows[r][0], java.util.Arrays.copyOfRange(rows[r], 1, rows[r].length));
                    seg[r] = g.segments();
                }
                djl = unpack(net.forward(manager, in, TrainingObjective.sequentialPositions(b, t), g.bias(manager, t)),
                        b, t, cfg.vocabSize());
                ref = model.forward(ForwardRequest.builder(in).attention(new AttentionSpec.Segments(seg, seg))
                        .build()).logits();
                return new Check(ExportCheck.maxAbsDiff(djl, ref), b, t, "Segments (causal start, then groups)",
                        "token ids (queries after the layout's ids)");
            }
            if (s.multiScale() == null) {
                int t = rows[0].length;
                int[][] pos = TrainingObjective.sequentialPositions(b, t);
                djl = unpack(net.forward(manager, rows, pos, s.objective().bias(manager, t)), b, t, cfg.vocabSize());
                ref = model.forward(ForwardRequest.builder(rows).attention(AttentionSpec.CAUSAL).build()).logits();
                return new Check(ExportCheck.maxAbsDiff(djl, ref), b, t, "Causal", "token ids");
            }
            NextScaleObjective o = (NextScaleObjective) s.objective();
            TrainingObjective.Batch batch = o.conditional().batch(rows, new java.util.SplittableRandom(0));
            int t = batch.tokens()[0].length;
            float[] flat = o.inputWeights(batch.tokens(), batch.targets(), cfg.vocabSize());
            NDArray mix = manager.create(flat, new Shape(b, t, cfg.vocabSize()));
            djl = unpack(net.forwardMixture(manager, mix, batch.positions(), o.bias(manager, t)), b, t,
                    cfg.vocabSize());
            float[][][] x = NextScaleObjective.embeddings(flat, b, t, weights.tokenEmbedding(), cfg.dim());
            int[][] seg = new int[b][];
            for (int r = 0; r < b; r++) {
                seg[r] = o.segments();
            }
            ref = model.forward(ForwardRequest.builderForEmbeddings(x)
                    .attention(new AttentionSpec.Segments(seg, seg)).build()).logits();
            return new Check(ExportCheck.maxAbsDiff(djl, ref), b, t, "Segments (segment = scale)",
                    "input embeddings E[level] + sum_j f_j E[basis_j]");
        }
    }

    private static float[][][] unpack(NDArray logits, int b, int t, int v) {
        float[] flat = logits.toFloatArray();
        float[][][] out = new float[b][t][];
        for (int r = 0; r < b; r++) {
            for (int j = 0; j < t; j++) {
                out[r][j] = java.util.Arrays.copyOfRange(flat, (r * t + j) * v, (r * t + j + 1) * v);
            }
        }
        return out;
    }

    /**
     * Exports the run of {@code r} into {@code out}: {@code <name>.bin}, {@code <name>.card.json} (what
     * Llama2cModelCard reads, plus {@code image} and the human card) and MODEL_CARD.md.
     */
    public Path export(Recipe r, Path out) throws IOException {
        return export(r, out, null, 0);
    }

    /**
     * As {@link #export(Recipe, Path)}; with a {@code judge} (the target prior a draft serves) the card also gets the
     * draft's speculative acceptance against it on test images; with {@code samples} > 0 and the fashion-judge
     * classifier in the trained-models folder, the class accuracy of that many generated images per guidance scale
     * and a grid of them ({@code samples.png}).
     */
    public Path export(Recipe r, Path out, Path judge, int samples) throws IOException {
        DjlSetup.configure(threads);
        Path runDir = runDir(r);
        Files.createDirectories(out);
        String name = r.name();
        Path bin = out.resolve(name + ".bin");
        Files.copy(runDir.resolve("final.bin"), bin, StandardCopyOption.REPLACE_EXISTING);
        ObjectNode run = (ObjectNode) Json.MAPPER.readTree(runDir.resolve("run.json").toFile());
        Setup s = setup(r, trained);
        GroupParallelImageObjective groups = s.objective() instanceof GroupParallelImageObjective g ? g : null;
        boolean raster = s.multiScale() == null && groups == null;
        FashionMnist testSplit = FashionMnist.load(FashionMnist.Split.TEST);
        ImageData probe = ImageData.encode(testSplit.images(), testSplit.labels(), 2, s.layout(), s.encoder(),
                tokensPerWindow(s));
        int len = 1 + tokensPerWindow(s);
        int[][] windows = {probe.window(0, len), probe.window(1, len)};
        Check check = exportCheck(bin, s, windows);
        log.accept(String.format("%s: export check (%s, %s): max |DJL - reference| %.2e", name, check.attention(),
                check.input(), check.maxAbsDiff()));

        ObjectNode card = Json.MAPPER.createObjectNode();
        card.put("name", name);
        card.putNull("bos");
        card.putArray("eos");
        card.putNull("pad");
        card.putNull("mask");
        // a group-parallel prior: BLOCK_CAUSAL with its group size (the exact segments, the causal start included,
        // come from the decoder's GroupLayout: dev.arbor.blockgen); row p predicts image token p like NEXT's p + 1
        card.put("alignment", raster || groups != null ? "NEXT" : "SAME");
        card.put("attention", raster ? "CAUSAL" : groups != null ? "BLOCK_CAUSAL" : "SCALE_CAUSAL");
        if (s.objective() instanceof TokenShuffleObjective o) {
            card.put("output_heads", o.heads());
            card.put("window", o.window());
        }
        card.put("block_size", groups != null ? groups.groupSize() : 0);
        ObjectNode image = card.putObject("image");
        image.put("tokenizer", s.tokenizerFile().getFileName().toString());
        image.put("layout", s.layoutName());
        image.put("tokenizer_sha256", Llama2cOnnxConverter.sha256(s.tokenizerFile()));
        image.put("codes", s.layout().codes());
        image.set("scales", Json.MAPPER.valueToTree(s.layout().scales()));
        image.put("tokens_per_image", s.layout().tokensPerImage());
        image.put("vocab_size", s.layout().vocabSize());
        image.set("classes", Json.MAPPER.valueToTree(s.layout().classNames()));
        image.put("cond_dropout", r.image().condDropout());
        if (groups != null) {
            image.put("group_size", groups.groupSize());
            image.put("causal_num", groups.causalNum());
            image.put("first_query_token", groups.queryToken(1));
            image.put("forwards_per_image", groups.forwards());
        }
        VfPromptObjective vf = vfPart(s);
        if (vf != null) {
            Path vfFile = trained.resolve(r.image().vfTokenizer());
            card.set("vf", vf.cardFacts(vfFile.getFileName().toString(), Llama2cOnnxConverter.sha256(vfFile),
                    r.image().vfScales()));
        }
        card.put("description", r.description());
        card.put("license", "Apache-2.0 (weights trained by Arbor's model forge on Fashion-MNIST, MIT, Zalando "
                + "Research)");
        card.put("parameters", run.get("parameters").asLong());
        card.set("architecture", Json.MAPPER.valueToTree(r.model()));
        card.set("objective", Json.MAPPER.valueToTree(r.objective()));
        ObjectNode data = card.putObject("data");
        data.put("dataset", "Fashion-MNIST (Xiao, Rasul and Vollgraf 2017; Debian package dataset-fashion-mnist, "
                + "MIT, Zalando Research)");
        data.put("train_images", run.get("train_images").asInt());
        data.put("heldout_images", run.get("heldout_images").asInt());
        data.put("heldout_split", "test");
        ObjectNode training = card.putObject("training");
        training.put("recipe", "tools/forge/recipes/" + name.replaceFirst("-smoke$", "") + ".json");
        training.put("seed", r.seed());
        for (String f : List.of("steps", "recipe_steps", "images_seen", "epochs", "tokens_seen", "wall_seconds",
                "threads", "time_budget_minutes", "time_budget_caps", "train_loss_first", "train_loss_last10_mean",
                "train_loss_last100_mean", "skipped_steps")) {
            if (run.has(f)) {
                training.set(f, run.get(f));
            }
        }
        training.put("batch_size", r.batchSize());
        training.set("optimizer", Json.MAPPER.valueToTree(r.optimizer()));
        training.put("framework", "DJL " + ai.djl.engine.Engine.getDjlVersion() + ", PyTorch engine, CPU");
        ObjectNode eval = card.putObject("evaluation");
        eval.put("heldout_loss", run.get("heldout_loss").asDouble());
        eval.put("metric", "cross-entropy of the image tokens (nats/token) on the Fashion-MNIST test images, "
                + "conditioned on their true class (no condition dropout)");
        eval.put("heldout_images", run.get("heldout_images").asInt());
        if (vf != null) {
            eval.put("heldout_loss_vf", run.get("heldout_loss_vf").asDouble());
            eval.put("metric_vf", "cross-entropy of the " + vf.vfTokens() + " VF tokens (nats/token) on the same "
                    + "images and condition; heldout_loss covers the 49 image codes only, comparable to a plain "
                    + "raster prior's");
        }
        ObjectNode chk = card.putObject("export_check");
        chk.put("reference", "Llama2cReferenceModel on the exported file vs the DJL training network");
        chk.put("attention_spec", check.attention());
        chk.put("input", check.input());
        chk.put("rows", check.rows());
        chk.put("positions", check.positions());
        chk.put("max_abs_logit_diff_reference", check.maxAbsDiff());
        Path classifier = trained.resolve("fashion-judge").resolve("fashion-judge.params");
        if (samples > 0 && Files.isRegularFile(classifier)) {
            card.with("measurements").set("class_accuracy", classAccuracy(bin, s, samples, r.seed(), classifier,
                    out.resolve("samples.png")));
        }
        if (judge != null) {
            if (!raster || vf != null) {
                throw ArborException.invalid("--judge measures a raster draft against its raster target; "
                        + name + " is a next-scale prior");
            }
            int images = r.image().heldoutLimit() > 0 ? Math.min(ACCEPTANCE_IMAGES, r.image().heldoutLimit())
                    : ACCEPTANCE_IMAGES;
            int[][] rows = new int[images][];
            ImageData held = ImageData.encode(testSplit.images(), testSplit.labels(), images, s.layout(),
                    s.encoder());
            for (int i = 0; i < rows.length; i++) {
                rows[i] = held.window(i, len);
            }
            card.with("measurements").set("acceptance", acceptance(bin, judge, rows, s.layout()));
        }
        Path cardFile = out.resolve(name + ".card.json");
        Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(cardFile.toFile(), card);
        Files.writeString(out.resolve("MODEL_CARD.md"), markdown(card, s), StandardCharsets.UTF_8);
        log.accept(name + ": exported to " + out);
        return out;
    }

    /** Guidance scales (LlamaGen's s; 1 = no guidance) the card's class accuracy is measured at. */
    static final float[] GUIDANCE = {1f, 3f};

    /**
     * Class accuracy of generated images: {@code samples} images per guidance scale in {@link #GUIDANCE}, classes
     * 0..9 in turn, decoded by the tokenizer and classified by fashion-judge; the images of the last scale go to
     * {@code grid} (one row per class).
     */
    ObjectNode classAccuracy(Path bin, Setup s, int samples, long seed, Path classifier, Path grid)
            throws IOException {
        ObjectNode acc = Json.MAPPER.createObjectNode();
        int classes = s.layout().classCount();
        int[] wanted = new int[samples];
        for (int i = 0; i < samples; i++) {
            wanted[i] = i % classes;
        }
        float[][] images = new float[samples][];
        try (NDManager manager = NDManager.newBaseManager();
             LlamaNet net = LlamaNet.of(Llama2cCheckpoint.read(bin), manager);
             FashionJudge fj = FashionJudge.load(classifier, threads)) {
            ImagePriorSampler sampler = new ImagePriorSampler(net, s);
            for (float g : GUIDANCE) {
                long t0 = System.nanoTime();
                int[][] tokens = sampler.sample(wanted, g, new java.util.SplittableRandom(seed), manager);
                for (int i = 0; i < samples; i++) {
                    images[i] = s.decoder().apply(tokens[i]);
                }
                double a = fj.accuracy(images, wanted);
                acc.put(String.format(Locale.ROOT, "guidance_%.1f", g), a);
                log.accept(String.format("class accuracy of %d samples at guidance s = %.1f: %.3f (%.1f s)", samples,
                        g, a, (System.nanoTime() - t0) / 1e9));
            }
        }
        acc.put("samples", samples);
        acc.put("method", "per guidance scale s (LlamaGen's u + s(c - u) over the code logits, temperature 1, no "
                + "top-k/top-p), " + samples + " images, classes 0..9 in turn, seed of the recipe; decoded by "
                + s.tokenizerFile().getFileName() + " and classified by fashion-judge; samples.png shows the images "
                + "at s = " + GUIDANCE[GUIDANCE.length - 1] + ", one row per class");
        int perClass = samples / classes;
        if (perClass > 0) {
            float[][] pixels = new float[classes * SIDE][perClass * SIDE];
            for (int i = 0; i < perClass * classes; i++) {
                int row = wanted[i];
                int col = i / classes;
                for (int y = 0; y < SIDE; y++) {
                    System.arraycopy(images[i], y * SIDE, pixels[row * SIDE + y], col * SIDE, SIDE);
                }
            }
            Files.write(grid, dev.arbor.api.image.Png.encode(pixels));
        }
        return acc;
    }

    /** Test images the draft acceptance is measured on (at most the recipe's heldout_limit). */
    static final int ACCEPTANCE_IMAGES = 200;

    /**
     * Speculative-sampling acceptance of the raster {@code draft} against the raster {@code target} (Leviathan et al.
     * 2023), teacher-forced on {@code rows} ([class token, codes]): over the image-token rows, the expected acceptance
     * of one drafted token alpha = mean sum_x min(p(x), q(x)) at temperature 1 over the codes, and the greedy
     * agreement (argmax over the codes equal); both conditional on the true class.
     */
    static ObjectNode acceptance(Path draft, Path target, int[][] rows, ImageLayout layout) {
        int codes = layout.codes();
        double alpha = 0;
        long agree = 0;
        long n = 0;
        try (Llama2cReferenceModel q = Llama2cReferenceModel.open(draft);
             Llama2cReferenceModel p = Llama2cReferenceModel.open(target)) {
            int t = rows[0].length - 1; // the last token is never an input
            for (int[] row : rows) {
                int[][] in = {java.util.Arrays.copyOf(row, t)};
                float[][] lq = q.forward(ForwardRequest.builder(in).build()).logits()[0];
                float[][] lp = p.forward(ForwardRequest.builder(in).build()).logits()[0];
                for (int j = 0; j < t; j++) {
                    double[] pp = Exporter.softmax(java.util.Arrays.copyOf(lp[j], codes));
                    double[] qq = Exporter.softmax(java.util.Arrays.copyOf(lq[j], codes));
                    double sum = 0;
                    for (int k = 0; k < codes; k++) {
                        sum += Math.min(pp[k], qq[k]);
                    }
                    alpha += sum;
                    agree += Exporter.argmax(pp) == Exporter.argmax(qq) ? 1 : 0;
                    n++;
                }
            }
        }
        ObjectNode a = Json.MAPPER.createObjectNode();
        a.put("judge", String.valueOf(target.getFileName()));
        a.put("images", rows.length);
        a.put("positions", n);
        a.put("expected_acceptance_temperature_1", alpha / n);
        a.put("greedy_agreement", (double) agree / n);
        a.put("method", "teacher-forced on the first " + rows.length + " Fashion-MNIST test images with their "
                + "class token, softmax over the " + codes + " codes: alpha = mean sum_x min(p, q) (Leviathan et al. "
                + "2023), greedy agreement = argmax p == argmax q");
        return a;
    }

    static String markdown(ObjectNode c, Setup s) {
        JsonNode a = c.get("architecture");
        JsonNode t = c.get("training");
        JsonNode img = c.get("image");
        boolean raster = img.get("layout").asText().equals("raster");
        boolean groups = img.get("layout").asText().equals(GroupParallelImageObjective.KIND);
        VfPromptObjective vf = vfPart(s);
        ImageLayout l = s.layout();
        StringBuilder b = new StringBuilder();
        b.append("# ").append(c.get("name").asText()).append("\n\n").append(c.get("description").asText())
                .append("\n\n");
        b.append("## Files\n\n");
        b.append("- `").append(c.get("name").asText()).append(".bin`: llama2.c checkpoint (legacy version 0, fp32), ")
                .append("read by models/llama2c (reference model, ONNX converter, native backends).\n");
        b.append("- `").append(c.get("name").asText()).append(".card.json`: the sidecar `Llama2cModelCard` reads ")
                .append("(alignment ").append(c.get("alignment").asText()).append(", attention ")
                .append(c.get("attention").asText()).append(", no BOS/EOS/pad/mask) plus `image` (tokenizer `")
                .append(img.get("tokenizer").asText()).append("` in models/trained/")
                .append(s.tokenizerFile().toAbsolutePath().getParent().getFileName()).append(", layout `")
                .append(img.get("layout").asText()).append("`) and this card's figures.\n\n");
        b.append("## Vocabulary layout\n\n");
        b.append(String.format("%d ids (`ImageLayout.vocabSize()`): codes 0..%d, class tokens %d..%d (%s), null "
                        + "class %d, feature-basis ids %d..%d, level ids %d..%d.%s%n%n",
                l.vocabSize(), l.codes() - 1, l.classToken(0), l.classToken(l.classCount() - 1),
                String.join(", ", l.classNames()), l.nullClassToken(), l.featureBasisToken(0),
                l.featureBasisToken(l.featureDim() - 1), l.levelToken(0), l.levelToken(l.scaleCount() - 1),
                vf == null ? " Only codes are ever predicted." : ""));
        int vocab = vf != null ? vf.vocabSize() : l.vocabSize() + (groups ? img.get("group_size").asInt() - 1 : 0);
        if (vf != null) {
            b.append(String.format("Then the VF ids %d..%d (VF id = %d + code of `%s`): %d ids in all. The VF ids are "
                            + "predicted at the %d positions after the class token, the codes after them.%n%n",
                    vf.vfOffset(), vf.vocabSize() - 1, vf.vfOffset(), c.get("vf").get("tokenizer").asText(),
                    vf.vocabSize(), vf.vfTokens()));
        }
        if (s.objective() instanceof TokenShuffleObjective o) {
            vocab = o.vocabSize();
            b.append(String.format("The prior's vocabulary is %d slots of these ids (slot h, id x: h·%d + x), %d "
                    + "in all; a logits row is %d heads of %d.%n%n", o.heads(), l.vocabSize(), vocab, o.heads(),
                    l.vocabSize()));
        }
        b.append("## Architecture\n\n");
        b.append(String.format("llama2.c transformer: dim %d, hidden %d (SwiGLU), %d layers, %d heads (head size %d), "
                        + "seq_len %d, vocab %d, %s classifier; %,d parameters.%n%n", a.get("dim").asInt(),
                a.get("hidden_dim").asInt(), a.get("n_layers").asInt(), a.get("n_heads").asInt(),
                a.get("dim").asInt() / a.get("n_heads").asInt(), a.get("seq_len").asInt(), vocab,
                a.get("shared_classifier").asBoolean() ? "shared (tied)" : "separate", c.get("parameters").asLong()));
        b.append("## Objective\n\n");
        if (s.objective() instanceof TokenShuffleObjective o) {
            int k = o.heads();
            b.append(String.format("Token-Shuffle prior (Ma et al. 2025) over the patch-VQ code map: the 7x7 map is "
                    + "padded to 8x8 with the code of an all-black patch (right column, bottom row) and regrouped "
                    + "into %d windows of %dx%d codes (windows in raster order, codes inside a window in raster "
                    + "order). The vocabulary is %d slots of the %d layout ids (%d); position 0's input is the class "
                    + "token, position p >= 1 takes the merged window p-1, `Σ_h E[h·%d + code_h]` (the linear form "
                    + "of the paper's merge, compress-and-concatenate, written in the prior's embedding table; the "
                    + "paper's residual MLP blocks are not reproduced). Causal attention; the row at position p "
                    + "predicts window p with %d output heads (`output_heads`: a logits row is %d slices of %d; "
                    + "head h predicts the window's h-th code), alignment NEXT: %d forwards per image instead of 49. "
                    + "The loss is the mean cross-entropy over the codes of each head's slice, over the 49 real "
                    + "tokens (the padding is known, not scored). ", o.windowsPerImage(), o.window(), o.window(), k,
                    l.vocabSize(), o.vocabSize(), l.vocabSize(), k, k, l.vocabSize(), o.windowsPerImage()));
        } else if (groups) {
            int g = img.get("group_size").asInt();
            int cn = img.get("causal_num").asInt();
            int n = l.tokensPerImage();
            b.append(String.format("Group-parallel prior with learned query tokens (Next Block Prediction, Ren et al. "
                    + "2025; objective image-group-parallel): %d positions. Position 0 is the class token, positions "
                    + "1..%d the first %d image tokens, positions %d..%d the %d learned query tokens (ids %d..%d, "
                    + "after the layout's ids: vocabulary %d), then the image tokens t_%d..t_%d. Row p predicts image "
                    + "token t_p: one by one for p < %d, then each group of %d rows the next %d tokens (the same slot "
                    + "of the next group). Attention by segment (the backends' Segments mask): causal over the first "
                    + "%d positions, bidirectional inside each group of %d and causal across groups (card attention "
                    + "BLOCK_CAUSAL, block_size %d). Decoding takes %d forwards per image (1 + %d + %d). ",
                    n, cn, cn, cn + 1, cn + g - 1, g - 1, l.vocabSize(), l.vocabSize() + g - 2, l.vocabSize() + g - 1,
                    cn, n - g - 1, cn, g, g, cn, g, g, img.get("forwards_per_image").asInt(), cn - 1,
                    (n - cn) / g));
        } else if (vf != null) {
            b.append(String.format("Raster-order autoregressive prior with a Vision Full-view prompt (METHODS §3.18; "
                    + "the paper's prompt content is unpublished, the form here is ours): the sequence is the class "
                    + "token, then %d VF tokens = the first %d scales of the multi-scale residual VQ `%s` of the same "
                    + "image (a coarse full view: a 1x1 and a 2x2 residual map), then the 49 patch-VQ codes in raster "
                    + "order; causal attention; row i predicts token i+1 (alignment NEXT); the loss is the "
                    + "cross-entropy of the %d VF and 49 image tokens. The generator (`vf-prompt`) samples the VF "
                    + "tokens first, restricted to the VF ids, and strips them before decoding; a dropped class keeps "
                    + "its image's VF tokens, so the unconditional half of "
                    + "guidance sees its own full view. ", vf.vfTokens(),
                    c.get("vf").get("scales").asInt(), c.get("vf").get("tokenizer").asText(), vf.vfTokens()));
        } else if (raster) {
            b.append("Raster-order autoregressive prior (LlamaGen, Sun et al. 2024): the sequence is the class token ")
                    .append("followed by the 49 patch-VQ codes in raster order; causal attention; row i predicts ")
                    .append("token i+1 (alignment NEXT); the loss is the cross-entropy of the 49 image tokens. ");
        } else {
            b.append("Next-scale prior (VAR, Tian et al. 2024): 104 positions, scales 1, 2, 3, 4, 5, 7. Position 0's ")
                    .append("input is the class token; a position of scale k >= 1 takes the input embedding ")
                    .append("`E[level(k)] + Σ_j f_j·E[basis(j)]`, f = the multi-scale tokenizer's next-scale input ")
                    .append("(`MultiScaleVq.nextScaleInput`) from the ground-truth tokens of the coarser scales ")
                    .append("(teacher forcing). Attention is block-causal by scale (SCALE_CAUSAL: a position sees ")
                    .append("its own and every coarser scale; the class token is in scale 0); row p predicts image ")
                    .append("token p (alignment SAME); the loss is the cross-entropy at all 104 positions. ");
        }
        b.append(String.format("Condition dropout: with probability %.2f the class token is replaced by the null "
                + "class, so the same weights give the unconditional logits of classifier-free guidance.%n%n",
                img.get("cond_dropout").asDouble()));
        b.append("## Training\n\n");
        JsonNode o = t.get("optimizer");
        b.append(String.format("Data: %s; %,d training images tokenized by `%s`. Recipe `%s`, seed %d. %,d steps of "
                        + "batch %d (%,d images, %.2f epochs, %,d image tokens), AdamW lr %.1e warmup %d then cosine "
                        + "to %.1e, weight decay %.2f, betas (%.2f, %.2f), gradient clip %.1f. %s, %d thread%s; "
                        + "wall time %s (2-core machine shared with other jobs).%n%n",
                c.get("data").get("dataset").asText(), c.get("data").get("train_images").asInt(),
                img.get("tokenizer").asText(), t.get("recipe").asText(), t.get("seed").asLong(),
                t.get("steps").asInt(), t.get("batch_size").asInt(), t.get("images_seen").asLong(),
                t.get("epochs").asDouble(), t.get("tokens_seen").asLong(), o.get("lr").asDouble(),
                o.get("warmup_steps").asInt(), o.get("min_lr").asDouble(), o.get("weight_decay").asDouble(),
                o.get("beta1").asDouble(), o.get("beta2").asDouble(), o.get("grad_clip").asDouble(),
                t.get("framework").asText(), t.get("threads").asInt(), t.get("threads").asInt() == 1 ? "" : "s",
                Trainer.hms(t.get("wall_seconds").asDouble())));
        b.append(String.format("Training loss: first step %.4f, mean of the last 100 steps %.4f nats/token.%n%n",
                t.get("train_loss_first").asDouble(), t.get("train_loss_last100_mean").asDouble()));
        if (t.path("time_budget_minutes").asDouble() > 0 && !t.path("time_budget_caps").isEmpty()) {
            b.append(String.format("The run had a time budget of %.0f minutes (`--time-budget`): its step count "
                            + "followed the measured pace (each change is in the card JSON, `time_budget_caps`). "
                            + "`arbor forge train forge/recipes/%s.json --threads %d --steps %d` reproduces the data "
                            + "order; its cosine schedule is the one planned for %d steps from the start.%n%n",
                    t.get("time_budget_minutes").asDouble(), c.get("name").asText(), t.get("threads").asInt(),
                    t.get("steps").asInt(), t.get("steps").asInt()));
        }
        b.append("## Evaluation\n\n");
        JsonNode e = c.get("evaluation");
        b.append(String.format("**Held-out loss: %.4f nats/token** (%s; %,d images).%n%n",
                e.get("heldout_loss").asDouble(), e.get("metric").asText(), e.get("heldout_images").asInt()));
        if (vf != null) {
            b.append(String.format("**Held-out loss of the VF tokens: %.4f nats/token** (%s).%n%n",
                    e.get("heldout_loss_vf").asDouble(), e.get("metric_vf").asText()));
        }
        JsonNode x = c.get("export_check");
        b.append(String.format("**Export check:** max |logit difference| %.2e between the DJL training network and "
                        + "`Llama2cReferenceModel` reading the exported file, on %d test images x %d positions "
                        + "(one with its class token, one with the null class), %s attention, %s.%n%n",
                x.get("max_abs_logit_diff_reference").asDouble(), x.get("rows").asInt(), x.get("positions").asInt(),
                x.get("attention_spec").asText(), x.get("input").asText()));
        JsonNode ca = c.path("measurements").path("class_accuracy");
        if (!ca.isMissingNode()) {
            b.append("**Class accuracy of generated images** (fashion-judge): ");
            for (float g : GUIDANCE) {
                String k = String.format(Locale.ROOT, "guidance_%.1f", g);
                b.append(String.format(Locale.ROOT, "s = %.1f: %.3f; ", g, ca.get(k).asDouble()));
            }
            b.append(String.format("%s.%n%n", ca.get("method").asText()));
        }
        JsonNode acc = c.path("measurements").path("acceptance");
        if (!acc.isMissingNode()) {
            b.append(String.format("**Draft acceptance against `%s`:** expected acceptance of one drafted token "
                            + "%.3f at temperature 1, greedy agreement %.3f (%s; %,d positions).%n%n",
                    acc.get("judge").asText(), acc.get("expected_acceptance_temperature_1").asDouble(),
                    acc.get("greedy_agreement").asDouble(), acc.get("method").asText(),
                    acc.get("positions").asLong()));
        }
        b.append("## License\n\n").append(c.get("license").asText()).append(".\n");
        return b.toString();
    }
}
