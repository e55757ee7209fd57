package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.StateWrite;
import dev.arbor.generation.nextx.Cells;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.images.PatchGrid;
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
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * The forge's continuous-latent image priors (recipe objective {@value FlowMatchingLatentObjective#KIND}): encodes
 * Fashion-MNIST with the recipe's {@link PatchPcaCodec} (its 8-bit wire ids are the stored windows), trains the
 * xAR flow-matching objective ({@link FlowMatchingLatentObjective}) with {@link Trainer}, measures the held-out flow
 * loss on the test split, and exports the llama2.c checkpoint with its card sidecar ({@code continuous_head},
 * alignment SAME, attention SCALE_CAUSAL so both backends take input embeddings and the generator's Segments) and
 * MODEL_CARD.md, the export check included.
 */
public final class LatentFlowPriors {
    private final Path work;
    private final Path trained;
    private final Integer threads;
    private final Consumer<String> log;

    public LatentFlowPriors(Path work, Path trained, Integer threads, Consumer<String> log) {
        this.work = work;
        this.trained = trained;
        this.threads = threads;
        this.log = log;
    }

    /** True when the recipe trains a continuous-latent prior. */
    public static boolean handles(Recipe r) {
        return r.objective() != null && FlowMatchingLatentObjective.KIND.equals(r.objective().kind());
    }

    /** The llama2.c header: the vocabulary is the layout's plus the time ids. */
    static Llama2cConfig config(Recipe r, FlowMatchingLatentObjective o) {
        Recipe.Architecture a = r.model();
        int needed = 1 + o.cells().tokens();
        if (a.seqLen() < needed) {
            throw dev.arbor.api.ArborException.invalid("recipe " + r.name() + ": seq_len " + a.seqLen()
                    + " is shorter than the " + needed + " positions of an image (class token + latent tokens)");
        }
        Llama2cConfig cfg = new Llama2cConfig(a.dim(), a.hiddenDim(), a.nLayers(), a.nHeads(), a.nHeads(),
                o.vocabSize(), a.seqLen(), a.sharedClassifier());
        cfg.validate(r.name());
        return cfg;
    }

    public Path runDir(Recipe r) {
        return work.resolve("runs").resolve(r.name());
    }

    private static ImageData encode(PatchPcaCodec codec, FashionMnist split, int limit) {
        return ImageData.encode(split.images(), split.labels(), limit, codec.layout(),
                x -> codec.encodeImage(PatchGrid.rows(x)));
    }

    /** Trains the recipe; writes final.bin, recipe.json and run.json into the run folder and returns it. */
    public Path train(Recipe r, double budgetMinutes) throws IOException {
        Path runDir = runDir(r);
        Files.createDirectories(runDir);
        PatchPcaCodec codec = LatentPriors.codec(r, trained);
        FlowMatchingLatentObjective objective = new FlowMatchingLatentObjective(codec, r.image().condDropout());
        long t0 = System.nanoTime();
        ImageData train = encode(codec, FashionMnist.load(FashionMnist.Split.TRAIN), r.image().trainLimit());
        ImageData test = encode(codec, FashionMnist.load(FashionMnist.Split.TEST), r.image().heldoutLimit());
        log.accept(String.format("%s: encoded %d training and %d test images with %s in %.1f s", r.name(),
                train.size(), test.size(), r.image().tokenizer(), (System.nanoTime() - t0) / 1e9));
        DjlSetup.configure(threads);
        Llama2cConfig cfg = config(r, objective);
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
            double held = Trainer.heldOutLoss(net, objective.conditional(), test, cfg.seqLen(), r.batchSize(),
                    evalBatches, r.seed(), manager);
            int heldImages = Math.min(evalBatches * r.batchSize(), test.size());
            log.accept(String.format("%s: held-out flow loss %.4f (MSE per latent value) on %d test images", r.name(),
                    held, heldImages));
            net.writeCheckpoint(runDir.resolve("final.bin"));
            Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(runDir.resolve("recipe.json").toFile(), r);
            ObjectNode run = trainer.runFacts(net, budgetMinutes, train.size(), trainSeconds, losses, held,
                    heldImages);
            Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(runDir.resolve("run.json").toFile(), run);
        }
        return runDir;
    }

    /**
     * Export check figures: the largest |logit difference| of the full-sequence comparison (DJL mixture forward vs
     * the reference model on input embeddings built by {@link ContinuousHead.Embedder}, Segments by cell) and of the
     * incremental one (class token and cell 0 appended to a decode state, cell 1 evaluated with StateWrite.NONE, as
     * the next-x generator runs).
     */
    public record Check(double fullMaxAbsDiff, double incrementalMaxAbsDiff, int rows, int positions) {
    }

    /** The export check on {@code windows} (one conditional row, one null-class row). */
    static Check exportCheck(Path checkpoint, FlowMatchingLatentObjective objective, int[][] windows) {
        Llama2cCheckpoint weights = Llama2cCheckpoint.read(checkpoint);
        Llama2cConfig cfg = weights.config();
        int b = windows.length;
        int[][] rows = new int[b][];
        for (int i = 0; i < b; i++) {
            rows[i] = windows[i].clone();
        }
        FlowMatchingLatentObjective o = objective.conditional();
        TrainingObjective.Batch batch = o.batch(rows, new SplittableRandom(7));
        int t = batch.tokens()[0].length;
        int n = t - 1;
        Cells cells = o.cells();
        int[] seg = o.segments();
        try (NDManager manager = NDManager.newBaseManager(); LlamaNet net = LlamaNet.of(weights, manager);
             Llama2cReferenceModel model = new Llama2cReferenceModel(weights, checkpoint.getFileName().toString())) {
            float[] flat = o.inputWeights(batch);
            NDArray mix = manager.create(flat, new Shape(b, t, cfg.vocabSize()));
            float[][][] djl = unpack(net.forwardMixture(manager, mix, batch.positions(), o.bias(manager, t)), b, t,
                    cfg.vocabSize());
            ContinuousHead.Embedder embedder = o.head().embedder(model);
            float[][][] x = new float[b][t][];
            for (int r = 0; r < b; r++) {
                x[r][0] = model.embedding(batch.tokens()[r][0]);
                for (int i = 0; i < n; i++) {
                    x[r][1 + i] = new float[embedder.width()];
                    embedder.add(o.noisyLatent(batch, r, i), o.time(batch, r, i), x[r][1 + i]);
                }
            }
            int[][] segs = new int[b][];
            Arrays.fill(segs, seg);
            float[][][] ref = model.forward(ForwardRequest.builderForEmbeddings(x)
                    .attention(new AttentionSpec.Segments(segs, segs)).build()).logits();
            double full = ExportCheck.maxAbsDiff(djl, ref);
            // incremental: [class + cell 0] appended, cell 1 read with StateWrite.NONE
            int held = 1 + cells.size(0);
            int c1 = cells.size(1);
            double inc = 0;
            try (DecodeState state = model.newState(b)) {
                float[][][] prefix = new float[b][][];
                float[][][] cell = new float[b][][];
                int[][] qPrefix = new int[b][];
                int[][] kPrefix = new int[b][];
                int[][] qCell = new int[b][];
                int[][] kCell = new int[b][];
                for (int r = 0; r < b; r++) {
                    prefix[r] = Arrays.copyOfRange(x[r], 0, held);
                    cell[r] = Arrays.copyOfRange(x[r], held, held + c1);
                    qPrefix[r] = Arrays.copyOfRange(seg, 0, held);
                    kPrefix[r] = qPrefix[r];
                    qCell[r] = Arrays.copyOfRange(seg, held, held + c1);
                    kCell[r] = Arrays.copyOfRange(seg, 0, held + c1);
                }
                model.forward(ForwardRequest.builderForEmbeddings(prefix).attention(
                        new AttentionSpec.Segments(qPrefix, kPrefix)).state(state).write(StateWrite.APPEND).build());
                float[][][] step = model.forward(ForwardRequest.builderForEmbeddings(cell).attention(
                        new AttentionSpec.Segments(qCell, kCell)).state(state).write(StateWrite.NONE).build())
                        .logits();
                for (int r = 0; r < b; r++) {
                    for (int j = 0; j < c1; j++) {
                        for (int v = 0; v < cfg.vocabSize(); v++) {
                            inc = Math.max(inc, Math.abs(step[r][j][v] - djl[r][held + j][v]));
                        }
                    }
                }
                if (state.length() != held) {
                    throw new IllegalStateException("StateWrite.NONE changed the state length to " + state.length());
                }
            }
            return new Check(full, inc, b, t);
        }
    }

    private static float[][][] unpack(NDArray logits, int b, int t, int v) {
        float[] flat = logits.toFloatArray();
        float[][][] out = new float[b][t][];
        for (int r = 0; r < b; r++) {
            for (int j = 0; j < t; j++) {
                out[r][j] = Arrays.copyOfRange(flat, (r * t + j) * v, (r * t + j + 1) * v);
            }
        }
        return out;
    }

    /** Exports the run of {@code r} into {@code out}: checkpoint, card sidecar and MODEL_CARD.md. */
    public Path export(Recipe r, Path out) throws IOException {
        DjlSetup.configure(threads);
        Path runDir = runDir(r);
        Files.createDirectories(out);
        String name = r.name();
        Path bin = out.resolve(name + ".bin");
        Files.copy(runDir.resolve("final.bin"), bin, StandardCopyOption.REPLACE_EXISTING);
        ObjectNode run = (ObjectNode) Json.MAPPER.readTree(runDir.resolve("run.json").toFile());
        PatchPcaCodec codec = LatentPriors.codec(r, trained);
        FlowMatchingLatentObjective o = new FlowMatchingLatentObjective(codec, r.image().condDropout());
        ImageData probe = encode(codec, FashionMnist.load(FashionMnist.Split.TEST), 2);
        int len = 1 + codec.layout().tokensPerImage();
        int[][] windows = {probe.window(0, len), probe.window(1, len)};
        windows[1][0] = codec.layout().nullClassToken();
        Check check = exportCheck(bin, o, windows);
        log.accept(String.format("%s: export check: max |DJL - reference| %.2e (full sequence), %.2e (incremental)",
                name, check.fullMaxAbsDiff(), check.incrementalMaxAbsDiff()));

        Path codecFile = ImagePriors.tokenizerFile(r, trained);
        ImageLayout layout = codec.layout();
        ObjectNode card = Json.MAPPER.createObjectNode();
        card.put("name", name);
        card.putNull("bos");
        card.putArray("eos");
        card.putNull("pad");
        card.putNull("mask");
        card.put("alignment", "SAME");
        // block-causal by segment through the generator's Segments; SCALE_CAUSAL makes both backends take input
        // embeddings (the converter builds the inputs_embeds graph), as for fashion-var
        card.put("attention", "SCALE_CAUSAL");
        card.put("block_size", 0);
        card.put("continuous_head", o.head().spec());
        ObjectNode image = card.putObject("image");
        image.put("tokenizer", codecFile.getFileName().toString());
        image.put("layout", "latent-cells");
        image.put("tokenizer_sha256", Llama2cOnnxConverter.sha256(codecFile));
        image.put("latent_tokens", codec.latentTokens());
        image.put("latent_dim", codec.latentDim());
        image.put("cell_side", FlowMatchingLatentObjective.CELL_SIDE);
        int[] sizes = new int[o.cells().count()];
        for (int k = 0; k < sizes.length; k++) {
            sizes[k] = o.cells().size(k);
        }
        image.set("cell_sizes", Json.MAPPER.valueToTree(sizes));
        image.put("time_steps", FlowMatchingLatentObjective.TIME_STEPS);
        image.put("vocab_size", o.vocabSize());
        image.set("classes", Json.MAPPER.valueToTree(layout.classNames()));
        image.put("cond_dropout", r.image().condDropout());
        card.put("description", r.description());
        card.put("license", "Apache-2.0 (weights trained by Arbor's model forge on Fashion-MNIST, MIT, Zalando "
                + "Research)");
        card.put("parameters", run.get("parameters").asLong());
        card.set("architecture", Json.MAPPER.valueToTree(r.model()));
        card.set("objective", Json.MAPPER.valueToTree(r.objective()));
        ObjectNode training = card.putObject("training");
        training.put("recipe", "tools/forge/recipes/" + name.replaceFirst("-smoke$", "") + ".json");
        training.put("seed", r.seed());
        for (String f : List.of("steps", "recipe_steps", "images_seen", "epochs", "wall_seconds", "threads",
                "time_budget_minutes", "time_budget_caps", "train_loss_first", "train_loss_last100_mean",
                "skipped_steps", "train_images")) {
            if (run.has(f)) {
                training.set(f, run.get(f));
            }
        }
        training.put("batch_size", r.batchSize());
        training.set("optimizer", Json.MAPPER.valueToTree(r.optimizer()));
        training.put("framework", "DJL " + ai.djl.engine.Engine.getDjlVersion() + ", PyTorch engine, CPU");
        ObjectNode eval = card.putObject("evaluation");
        eval.put("heldout_loss", run.get("heldout_loss").asDouble());
        eval.put("metric", "flow-matching MSE per latent value (head velocity vs x_1 - eps) on the Fashion-MNIST "
                + "test images with their true class, the training distribution of times and clean context, seed of "
                + "the recipe");
        eval.put("heldout_images", run.get("heldout_images").asInt());
        ObjectNode chk = card.putObject("export_check");
        chk.put("reference", "Llama2cReferenceModel on the exported file vs the DJL training network");
        chk.put("input", "input embeddings by ContinuousHead.Embedder (sum_j x_j E[basis j] + time embedding), "
                + "class token row E[class]");
        chk.put("attention_spec", "Segments (class token 0, cell k -> k+1)");
        chk.put("rows", check.rows());
        chk.put("positions", check.positions());
        chk.put("max_abs_logit_diff_reference", check.fullMaxAbsDiff());
        chk.put("max_abs_logit_diff_incremental", check.incrementalMaxAbsDiff());
        Path cardFile = out.resolve(name + ".card.json");
        Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(cardFile.toFile(), card);
        Files.writeString(out.resolve("MODEL_CARD.md"), markdown(card, layout, o), StandardCharsets.UTF_8);
        log.accept(name + ": exported to " + out);
        return out;
    }

    static String markdown(ObjectNode c, ImageLayout l, FlowMatchingLatentObjective o) {
        JsonNode a = c.get("architecture");
        JsonNode t = c.get("training");
        JsonNode opt = t.get("optimizer");
        JsonNode x = c.get("export_check");
        ContinuousHead h = o.head();
        StringBuilder b = new StringBuilder();
        b.append("# ").append(c.get("name").asText()).append("\n\n").append(c.get("description").asText())
                .append("\n\n## Files\n\n")
                .append("- `").append(c.get("name").asText()).append(".bin`: llama2.c checkpoint (fp32).\n")
                .append("- `").append(c.get("name").asText()).append(".card.json`: the sidecar `Llama2cModelCard` reads")
                .append(" (alignment SAME, attention SCALE_CAUSAL = input embeddings + the generator's Segments, ")
                .append("`continuous_head` ").append(h.spec()).append(") plus `image` (codec `")
                .append(c.get("image").get("tokenizer").asText()).append("` in models/trained/fashion-vq).\n\n");
        b.append("## Vocabulary and head\n\n").append(String.format(Locale.ROOT, "%d ids: the codec's layout (wire "
                        + "levels 0..%d, class tokens %d..%d, null class %d, basis ids %d..%d, level id %d), then %d "
                        + "time ids %d..%d. Head: VELOCITY over logits columns %d..%d (the velocity of the row's own "
                        + "token). A latent token x at time t enters as `Σ_j x_j·E[%d+j] + E_t` (E_t interpolating the"
                        + " two nearest time ids), the class token as its own embedding.%n%n", o.vocabSize(),
                l.codes() - 1, l.classToken(0), l.classToken(l.classCount() - 1), l.nullClassToken(),
                l.featureBasisToken(0), l.featureBasisToken(l.featureDim() - 1), l.levelToken(0), h.timeSteps(),
                h.timeOffset(), h.timeOffset() + h.timeSteps() - 1, h.outputOffset(),
                h.outputOffset() + h.dim() - 1, h.basisOffset()));
        b.append("## Architecture\n\n").append(String.format(Locale.ROOT, "llama2.c transformer: dim %d, hidden %d, "
                        + "%d layers, %d heads, seq_len %d, %s classifier; %,d parameters.%n%n", a.get("dim").asInt(),
                a.get("hidden_dim").asInt(), a.get("n_layers").asInt(), a.get("n_heads").asInt(),
                a.get("seq_len").asInt(), a.get("shared_classifier").asBoolean() ? "shared (tied)" : "separate",
                c.get("parameters").asLong()));
        b.append("## Objective\n\n").append(String.format(Locale.ROOT, "xAR next-cell flow matching (Ren et al. "
                        + "2025): class token, then the 49 latent tokens in cell order (%s), attention block-causal by"
                        + " cell. Each cell k has its own time t_k ~ U[0,1); its tokens enter as x_t = t·x_1 + "
                        + "(1−t)·ε and the head regresses x_1 − ε (MSE). With probability %.1f the cells before a "
                        + "random current cell are clean (t = 1, not scored), as at inference. Condition dropout "
                        + "%.2f (null class).%n%n", o.cells(), FlowMatchingLatentObjective.CLEAN_CONTEXT,
                c.get("image").get("cond_dropout").asDouble()));
        b.append("## Training\n\n").append(String.format(Locale.ROOT, "Fashion-MNIST, %,d training images encoded "
                        + "by the patch PCA codec (8-bit wire form). Recipe `%s`, seed %d: %,d steps of batch %d "
                        + "(%.2f epochs), AdamW lr %.1e (warmup %d, cosine to %.1e), weight decay %.2f, clip %.1f; "
                        + "%s, %d thread(s), wall time %s (time budget %.0f min; 2-core machine shared with other "
                        + "jobs). Training loss: first step %.4f, mean of the last 100 steps %.4f.%n%n",
                t.path("train_images").asInt(), t.get("recipe").asText(), t.get("seed").asLong(),
                t.get("steps").asInt(), t.get("batch_size").asInt(), t.get("epochs").asDouble(),
                opt.get("lr").asDouble(), opt.get("warmup_steps").asInt(), opt.get("min_lr").asDouble(),
                opt.get("weight_decay").asDouble(), opt.get("grad_clip").asDouble(), t.get("framework").asText(),
                t.get("threads").asInt(), Trainer.hms(t.get("wall_seconds").asDouble()),
                t.path("time_budget_minutes").asDouble(), t.get("train_loss_first").asDouble(),
                t.get("train_loss_last100_mean").asDouble()));
        JsonNode e = c.get("evaluation");
        b.append("## Evaluation\n\n").append(String.format(Locale.ROOT, "**Held-out flow loss: %.4f** (%s; %,d "
                        + "images). For scale: predicting zero velocity scores E|x_1 − ε|²/16 ≈ 1.2.%n%n",
                e.get("heldout_loss").asDouble(), e.get("metric").asText(), e.get("heldout_images").asInt()));
        b.append(String.format(Locale.ROOT, "**Export check:** max |logit difference| %.2e between the DJL training "
                        + "network and `Llama2cReferenceModel` on the exported file (%d test images x %d positions, "
                        + "one with its class token, one with the null class; %s; %s), and %.2e on the incremental "
                        + "path the generator runs (class token and cell 0 appended to a decode state, cell 1 "
                        + "evaluated with StateWrite.NONE).%n%n", x.get("max_abs_logit_diff_reference").asDouble(),
                x.get("rows").asInt(), x.get("positions").asInt(), x.get("input").asText(),
                x.get("attention_spec").asText(), x.get("max_abs_logit_diff_incremental").asDouble()));
        b.append("## License\n\n").append(c.get("license").asText()).append(".\n");
        return b.toString();
    }
}
