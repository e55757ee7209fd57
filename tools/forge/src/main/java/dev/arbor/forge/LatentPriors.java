package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.LatentImageCodec;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.images.PatchPcaCodec;
import dev.arbor.models.images.VqImageTokenizer;
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
import java.util.function.Consumer;

/**
 * The forge's continuous-latent priors with a Gaussian head (recipes with objective {@value GaussianLatentObjective#KIND}):
 * encodes Fashion-MNIST once with the recipe's latent codec ({@code image.tokenizer}, a {@link PatchPcaCodec} file),
 * trains {@link GaussianLatentObjective} with {@link Trainer}, measures the held-out Gaussian NLL on the test split and
 * exports the llama2.c checkpoint with its card sidecar ({@code continuous_head}, {@code image}) and MODEL_CARD.md,
 * the export check (through input embeddings) included.
 */
public final class LatentPriors {
    private final Path work;
    private final Path trained;
    private final Integer threads;
    private final Consumer<String> log;

    /** Runs under {@code work}; the codec from {@code trained} (see {@link ImagePriors#tokenizerFile}). */
    public LatentPriors(Path work, Path trained, Integer threads, Consumer<String> log) {
        this.work = work;
        this.trained = trained;
        this.threads = threads;
        this.log = log;
    }

    /** True for a recipe this class trains. */
    public static boolean handles(Recipe r) {
        return r.objective() != null && GaussianLatentObjective.KIND.equals(r.objective().kind());
    }

    /** The recipe's codec (Fashion-MNIST class names); the flow priors read theirs the same way. */
    public static PatchPcaCodec codec(Recipe r, Path trained) {
        return PatchPcaCodec.read(ImagePriors.tokenizerFile(r, trained), VqImageTokenizer.FASHION_CLASSES);
    }

    /** The llama2.c header of a recipe's prior: the vocabulary is the codec's layout. */
    public static Llama2cConfig config(Recipe r, LatentImageCodec codec) {
        Recipe.Architecture a = r.model();
        if (a.seqLen() < codec.latentTokens()) {
            throw ArborException.invalid("recipe " + r.name() + ": seq_len " + a.seqLen() + " is shorter than the "
                    + codec.latentTokens() + " positions of a latent image sequence (class token + all but the last "
                    + "latent token)");
        }
        Llama2cConfig cfg = new Llama2cConfig(a.dim(), a.hiddenDim(), a.nLayers(), a.nHeads(), a.nHeads(),
                codec.layout().vocabSize(), a.seqLen(), a.sharedClassifier());
        cfg.validate(r.name());
        return cfg;
    }

    /** The run folder of a recipe. */
    public Path runDir(Recipe r) {
        return work.resolve("runs").resolve(r.name());
    }

    /**
     * Trains the recipe; writes {@code final.bin}, {@code recipe.json} and {@code run.json} (steps, wall time,
     * held-out NLL on the test split) into the run folder and returns it.
     */
    public Path train(Recipe r, double budgetMinutes) throws IOException {
        Path runDir = runDir(r);
        Files.createDirectories(runDir);
        LatentImageCodec codec = codec(r, trained);
        long t0 = System.nanoTime();
        FashionMnist trainSplit = FashionMnist.load(FashionMnist.Split.TRAIN);
        FashionMnist testSplit = FashionMnist.load(FashionMnist.Split.TEST);
        LatentData train = LatentData.encode(trainSplit.images(), trainSplit.labels(), r.image().trainLimit(), codec);
        LatentData test = LatentData.encode(testSplit.images(), testSplit.labels(), r.image().heldoutLimit(), codec);
        log.accept(String.format("%s: encoded %d training and %d test images with %s in %.1f s", r.name(),
                train.size(), test.size(), r.image().tokenizer(), (System.nanoTime() - t0) / 1e9));
        DjlSetup.configure(threads);
        Llama2cConfig cfg = config(r, codec);
        GaussianLatentObjective objective = new GaussianLatentObjective(codec.layout(), train, r.image().condDropout());
        int evalBatches = Math.max(1, Math.min(r.evalBatches(), (test.size() + r.batchSize() - 1) / r.batchSize()));
        long start = System.nanoTime();
        try (NDManager manager = NDManager.newBaseManager();
             LlamaNet net = LlamaNet.init(cfg, r.seed(), manager)) {
            log.accept(String.format("%s: %s objective, %,d parameters (dim %d, hidden %d, %d layers, %d heads, "
                            + "seq_len %d, vocab %d), %d steps x %d images, PyTorch threads %d", r.name(),
                    r.objective().kind(), net.parameterCount(), cfg.dim(), cfg.hiddenDim(), cfg.nLayers(),
                    cfg.nHeads(), cfg.seqLen(), cfg.vocabSize(), r.steps(), r.batchSize(), DjlSetup.threads()));
            Trainer trainer = new Trainer(r, net, objective, manager, log);
            trainer.timeBudget(budgetMinutes * 60);
            List<Float> losses = trainer.run(train, manager, runDir);
            double trainSeconds = (System.nanoTime() - start) / 1e9;
            double held = Trainer.heldOutLoss(net, objective.conditional(test), test, cfg.seqLen(), r.batchSize(),
                    evalBatches, r.seed(), manager);
            int heldImages = Math.min(evalBatches * r.batchSize(), test.size());
            log.accept(String.format("%s: held-out Gaussian NLL %.4f nats per latent value on %d test images",
                    r.name(), held, heldImages));
            net.writeCheckpoint(runDir.resolve("final.bin"));
            Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(runDir.resolve("recipe.json").toFile(), r);
            ObjectNode run = trainer.runFacts(net, budgetMinutes, train.size(), trainSeconds, losses, held,
                    heldImages);
            Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(runDir.resolve("run.json").toFile(), run);
        }
        return runDir;
    }

    /** Largest |head column difference| between the DJL network and the reference model on the exported file. */
    public record Check(double maxAbsDiff, int rows, int positions) {
    }

    /**
     * The export check: the DJL network of the exported weights ({@link LlamaNet#forwardMixture}) against
     * {@link Llama2cReferenceModel} on the same file fed the input embeddings {@code Σ_j x_j·E[basis j]} (what the
     * generators send), causal attention, on {@code data}'s first two images (the second with the null class).
     */
    public static Check exportCheck(Path checkpoint, ImageLayout layout, LatentData data) {
        Llama2cCheckpoint weights = Llama2cCheckpoint.read(checkpoint);
        Llama2cConfig cfg = weights.config();
        int b = Math.min(2, data.size());
        GaussianLatentObjective o = new GaussianLatentObjective(layout, data, 0);
        int t = o.sequenceLength();
        int[][] ids = new int[b][t];
        int[] images = new int[b];
        for (int r = 0; r < b; r++) {
            ids[r][0] = r % 2 == 1 ? layout.nullClassToken() : data.classToken(r);
            images[r] = r;
        }
        float[] flat = o.inputWeights(ids, images, cfg.vocabSize());
        int width = GaussianLatentObjective.head(layout).width();
        try (NDManager manager = NDManager.newBaseManager(); LlamaNet net = LlamaNet.of(weights, manager);
             Llama2cReferenceModel model = new Llama2cReferenceModel(weights, checkpoint.getFileName().toString())) {
            NDArray mix = manager.create(flat, new Shape(b, t, cfg.vocabSize()));
            float[] djl = net.forwardMixture(manager, mix, TrainingObjective.sequentialPositions(b, t),
                    o.bias(manager, t)).toFloatArray();
            float[][][] x = NextScaleObjective.embeddings(flat, b, t, weights.tokenEmbedding(), cfg.dim());
            float[][][] ref = model.forward(ForwardRequest.builderForEmbeddings(x).attention(AttentionSpec.CAUSAL)
                    .build()).logits();
            double max = 0;
            for (int r = 0; r < b; r++) {
                for (int p = 0; p < t; p++) {
                    for (int c = 0; c < width; c++) {
                        max = Math.max(max, Math.abs(djl[(r * t + p) * cfg.vocabSize() + c] - ref[r][p][c]));
                    }
                }
            }
            return new Check(max, b, t);
        }
    }

    /**
     * Exports the run of {@code r} into {@code out}: {@code <name>.bin}, {@code <name>.card.json} (what
     * Llama2cModelCard reads — alignment NEXT, attention CAUSAL, {@code continuous_head} — plus {@code image} and the
     * human card) and MODEL_CARD.md.
     */
    public Path export(Recipe r, Path out) throws IOException {
        Path runDir = runDir(r);
        Files.createDirectories(out);
        String name = r.name();
        Path bin = out.resolve(name + ".bin");
        Files.copy(runDir.resolve("final.bin"), bin, StandardCopyOption.REPLACE_EXISTING);
        ObjectNode run = (ObjectNode) Json.MAPPER.readTree(runDir.resolve("run.json").toFile());
        LatentImageCodec codec = codec(r, trained);
        ImageLayout layout = codec.layout();
        Path codecFile = ImagePriors.tokenizerFile(r, trained);
        FashionMnist testSplit = FashionMnist.load(FashionMnist.Split.TEST);
        LatentData probe = LatentData.encode(testSplit.images(), testSplit.labels(), 2, codec);
        DjlSetup.configure(threads);
        Check check = exportCheck(bin, layout, probe);
        log.accept(String.format("%s: export check (causal, input embeddings): max |DJL - reference| %.2e", name,
                check.maxAbsDiff()));
        ContinuousHead head = GaussianLatentObjective.head(layout);

        ObjectNode card = Json.MAPPER.createObjectNode();
        card.put("name", name);
        card.putNull("bos");
        card.putArray("eos");
        card.putNull("pad");
        card.putNull("mask");
        card.put("alignment", "NEXT");
        card.put("attention", "CAUSAL");
        card.put("block_size", 0);
        card.put("continuous_head", head.spec());
        ObjectNode image = card.putObject("image");
        image.put("tokenizer", r.image().tokenizer());
        image.put("tokenizer_format", "image-latent");
        image.put("layout", "latent");
        image.put("tokenizer_sha256", Llama2cOnnxConverter.sha256(codecFile));
        image.put("latent_tokens", codec.latentTokens());
        image.put("latent_dim", codec.latentDim());
        image.put("vocab_size", layout.vocabSize());
        image.set("classes", Json.MAPPER.valueToTree(layout.classNames()));
        image.put("cond_dropout", r.image().condDropout());
        image.put("log_variance_clamp", "[" + GaussianLatentObjective.MIN_LOG_VARIANCE + ", "
                + GaussianLatentObjective.MAX_LOG_VARIANCE + "]");
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
        for (String f : List.of("steps", "recipe_steps", "images_seen", "epochs", "wall_seconds", "threads",
                "time_budget_minutes", "time_budget_caps", "train_loss_first", "train_loss_last100_mean",
                "skipped_steps")) {
            if (run.has(f)) {
                training.set(f, run.get(f));
            }
        }
        training.put("batch_size", r.batchSize());
        training.set("optimizer", Json.MAPPER.valueToTree(r.optimizer()));
        training.put("framework", "DJL " + ai.djl.engine.Engine.getDjlVersion() + ", PyTorch engine, CPU");
        ObjectNode eval = card.putObject("evaluation");
        eval.put("heldout_loss", run.get("heldout_loss").asDouble());
        eval.put("metric", "Gaussian negative log-likelihood of the latent values (nats per value, log-variance "
                + "clamped as in training) on the Fashion-MNIST test images, conditioned on their true class (no "
                + "condition dropout)");
        eval.put("heldout_images", run.get("heldout_images").asInt());
        ObjectNode chk = card.putObject("export_check");
        chk.put("reference", "Llama2cReferenceModel on the exported file vs the DJL training network");
        chk.put("attention_spec", "Causal");
        chk.put("input", "input embeddings: E[class] at position 0, sum_j x_j E[basis_j] after it");
        chk.put("columns", "the Gaussian head's " + head.width() + " columns");
        chk.put("rows", check.rows());
        chk.put("positions", check.positions());
        chk.put("max_abs_logit_diff_reference", check.maxAbsDiff());
        Path cardFile = out.resolve(name + ".card.json");
        Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(cardFile.toFile(), card);
        Files.writeString(out.resolve("MODEL_CARD.md"), markdown(card, layout), StandardCharsets.UTF_8);
        log.accept(name + ": exported to " + out);
        return out;
    }

    static String markdown(ObjectNode c, ImageLayout l) {
        JsonNode a = c.get("architecture");
        JsonNode t = c.get("training");
        JsonNode img = c.get("image");
        JsonNode o = t.get("optimizer");
        StringBuilder b = new StringBuilder();
        String name = c.get("name").asText();
        b.append("# ").append(name).append("\n\n").append(c.get("description").asText()).append("\n\n");
        b.append("## Files\n\n");
        b.append("- `").append(name).append(".bin`: llama2.c checkpoint (legacy version 0, fp32), read by ")
                .append("models/llama2c (reference model, ONNX converter with `input_embeds=true`, DJL).\n");
        b.append("- `").append(name).append(".card.json`: the sidecar `Llama2cModelCard` reads (alignment NEXT, ")
                .append("attention CAUSAL, `continuous_head` `").append(c.get("continuous_head").asText())
                .append("`) plus `image` (codec `").append(img.get("tokenizer").asText())
                .append("`, pipeline tokenizer format `image-latent`) and this card's figures.\n\n");
        b.append("## Vocabulary layout and head\n\n");
        b.append(String.format("%d ids (the codec's `ImageLayout`): wire levels 0..%d (never inputs or outputs of this "
                        + "prior), class tokens %d..%d, null class %d, feature-basis ids %d..%d, level id %d. The "
                        + "Gaussian head occupies logits columns 0..%d: the %d means, then the %d log-variances of the "
                        + "next latent token (clamped to %s when read).%n%n", l.vocabSize(), l.codes() - 1,
                l.classToken(0), l.classToken(l.classCount() - 1), l.nullClassToken(), l.featureBasisToken(0),
                l.featureBasisToken(l.featureDim() - 1), l.levelToken(0), 2 * l.featureDim() - 1, l.featureDim(),
                l.featureDim(), img.get("log_variance_clamp").asText()));
        b.append("## Architecture\n\n");
        b.append(String.format("llama2.c transformer: dim %d, hidden %d (SwiGLU), %d layers, %d heads, seq_len %d, "
                        + "vocab %d, %s classifier; %,d parameters.%n%n", a.get("dim").asInt(),
                a.get("hidden_dim").asInt(), a.get("n_layers").asInt(), a.get("n_heads").asInt(),
                a.get("seq_len").asInt(), l.vocabSize(),
                a.get("shared_classifier").asBoolean() ? "shared (tied)" : "separate", c.get("parameters").asLong()));
        b.append("## Objective\n\n");
        b.append(String.format("Causal continuous-token prior with a per-token Gaussian head (the MAR/CSpD family with "
                + "the diffusion head replaced by a Gaussian; objective `%s`): the sequence is the class token, then "
                + "the image's %d latent tokens in raster order, each entering as the input embedding "
                + "`Σ_j x_j·E[basis_j]`; the row of position p (alignment NEXT) gives N(μ, diag v) of latent token p; "
                + "the loss is the Gaussian NLL per latent value. Condition dropout %.2f (the null class) trains the "
                + "unconditional head of classifier-free guidance.%n%n", GaussianLatentObjective.KIND,
                img.get("latent_tokens").asInt(), img.get("cond_dropout").asDouble()));
        b.append("## Training\n\n");
        b.append(String.format("Data: %s; %,d training images encoded by `%s`. Recipe `%s`, seed %d. %,d steps of "
                        + "batch %d (%,d images, %.2f epochs), AdamW lr %.1e warmup %d then cosine to %.1e, weight "
                        + "decay %.2f, gradient clip %.1f. %s, %d thread(s); wall time %s (2-core machine shared with "
                        + "other jobs, `nice -n 15`).%n%n",
                c.get("data").get("dataset").asText(), c.get("data").get("train_images").asInt(),
                img.get("tokenizer").asText(), t.get("recipe").asText(), t.get("seed").asLong(),
                t.get("steps").asInt(), t.get("batch_size").asInt(), t.get("images_seen").asLong(),
                t.get("epochs").asDouble(), o.get("lr").asDouble(), o.get("warmup_steps").asInt(),
                o.get("min_lr").asDouble(), o.get("weight_decay").asDouble(), o.get("grad_clip").asDouble(),
                t.get("framework").asText(), t.get("threads").asInt(), Trainer.hms(t.get("wall_seconds").asDouble())));
        b.append(String.format("Training loss (Gaussian NLL, nats per latent value): first step %.4f, mean of the last "
                        + "100 steps %.4f.%n%n", t.get("train_loss_first").asDouble(),
                t.get("train_loss_last100_mean").asDouble()));
        if (t.path("time_budget_minutes").asDouble() > 0 && !t.path("time_budget_caps").isEmpty()) {
            b.append(String.format("The run had a time budget of %.0f minutes (`--time-budget`): its step count "
                    + "followed the measured pace (`time_budget_caps` in the card JSON).%n%n",
                    t.get("time_budget_minutes").asDouble()));
        }
        b.append("## Evaluation\n\n");
        JsonNode e = c.get("evaluation");
        b.append(String.format("**Held-out NLL: %.4f nats per latent value** (%s; %,d images).%n%n",
                e.get("heldout_loss").asDouble(), e.get("metric").asText(), e.get("heldout_images").asInt()));
        JsonNode x = c.get("export_check");
        b.append(String.format("**Export check:** max |difference| %.2e over %s between the DJL training network and "
                        + "`Llama2cReferenceModel` reading the exported file, on %d test images x %d positions (one "
                        + "with its class token, one with the null class), causal attention, %s.%n%n",
                x.get("max_abs_logit_diff_reference").asDouble(), x.get("columns").asText(), x.get("rows").asInt(),
                x.get("positions").asInt(), x.get("input").asText()));
        b.append("Image quality (class accuracy, Fréchet distance) and speed are measured by the image benchmark "
                + "(`benchmarks/image-bench.sh`, pipelines `fashion-cgauss` and `fashion-cspd`).\n\n");
        b.append("## License\n\n").append(c.get("license").asText()).append(".\n");
        return b.toString();
    }
}
