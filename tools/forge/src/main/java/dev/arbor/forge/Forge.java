package dev.arbor.forge;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import java.nio.file.StandardCopyOption;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;

/** The forge's steps on one working folder: corpus, tokenizer, training, evaluation and export of a recipe. */
public final class Forge {
    private final Path modelsRoot;
    private final Path work;
    private final Integer threads;
    private final Consumer<String> log;

    public Forge(Path modelsRoot, Path work, Integer threads, Consumer<String> log) {
        this.modelsRoot = modelsRoot;
        this.work = work;
        this.threads = threads;
        this.log = log;
    }

    /** The corpus folder of a recipe: one per corpus spec, shared by every recipe with the same spec. */
    public Path corpusDir(Recipe r) {
        return work.resolve("corpus-" + digest(Json.MAPPER.valueToTree(r.corpus()).toString()));
    }

    /** Builds or reuses the recipe's corpus; returns its stories. */
    public List<String> corpus(Recipe r) throws IOException {
        return new CorpusBuilder(r.corpus()).buildOrLoad(corpusDir(r), modelsRoot, log);
    }

    /** Training and held-out stories: the last heldout_fraction of the corpus is held out. */
    public static List<List<String>> split(List<String> stories, double heldoutFraction) {
        int held = Math.max(1, (int) Math.round(stories.size() * heldoutFraction));
        int cut = stories.size() - held;
        return List.of(stories.subList(0, cut), stories.subList(cut, stories.size()));
    }

    /** Trains (or reuses) the BPE of the recipe on its training stories; returns the tokenizer file. */
    public Path tokenizer(Recipe r) throws IOException {
        Path file = corpusDir(r).resolve("tokenizer-" + r.tokenizer().vocabSize() + ".bin");
        if (!Files.isRegularFile(file)) {
            List<String> train = split(corpus(r), r.corpus().heldoutFraction()).get(0);
            long t0 = System.nanoTime();
            BpeTrainer.train(train, r.tokenizer().vocabSize()).write(file);
            log.accept(String.format("tokenizer: %d ids trained in %.1f s -> %s", r.tokenizer().vocabSize(),
                    (System.nanoTime() - t0) / 1e9, file));
        }
        return file;
    }

    /** The tokenizer of a recipe, read as Arbor reads it. */
    public Llama2cTokenizer readTokenizer(Recipe r) throws IOException {
        return Llama2cTokenizer.read(tokenizer(r), 0);
    }

    Path work() {
        return work;
    }

    Path modelsRoot() {
        return modelsRoot;
    }

    Integer threads() {
        return threads;
    }

    Consumer<String> log() {
        return log;
    }

    static String digest(String s) {
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(s.getBytes(
                    java.nio.charset.StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 6);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The training and held-out token streams of a recipe, cached next to the tokenizer (encoding is slow). */
    public TokenStream[] streams(Recipe r) throws IOException {
        Llama2cTokenizer tok = readTokenizer(r);
        List<List<String>> parts = split(corpus(r), r.corpus().heldoutFraction());
        long t0 = System.nanoTime();
        Path cache = corpusDir(r).resolve("tokens-" + r.tokenizer().vocabSize() + ".bin");
        TokenStream[] cached = TokenStream.readCache(cache, tokenizer(r));
        if (cached != null) {
            return cached;
        }
        TokenStream train = TokenStream.encode(parts.get(0), tok, Llama2cTokenizer.BOS, Llama2cTokenizer.EOS);
        TokenStream held = TokenStream.encode(parts.get(1), tok, Llama2cTokenizer.BOS, Llama2cTokenizer.EOS);
        TokenStream.writeCache(cache, tokenizer(r), train, held);
        log.accept(String.format("corpus: %d training stories (%d bytes, %d tokens, %.2f bytes/token), %d held out "
                        + "(%d tokens); encoded in %.1f s", parts.get(0).size(), train.bytes(), train.length(),
                (double) train.bytes() / train.length(), parts.get(1).size(), held.length(),
                (System.nanoTime() - t0) / 1e9));
        return new TokenStream[] {train, held};
    }

    /** The run folder of a recipe. */
    public Path runDir(Recipe r) {
        return work.resolve("runs").resolve(r.name());
    }

    /**
     * Trains the recipe: corpus, tokenizer, training with progress and checkpoints, held-out loss; writes
     * {@code final.bin}, {@code tokenizer.bin}, {@code recipe.json} and {@code run.json} into the run folder, then
     * exports it (model card, samples, measurements) into {@code out}.
     */
    public Path train(Recipe r, Path out, Path judge) throws Exception {
        return train(r, out, judge, 0);
    }

    /** As {@link #train(Recipe, Path, Path)}, capped at {@code budgetMinutes} of training (0 = no cap). */
    public Path train(Recipe r, Path out, Path judge, double budgetMinutes) throws Exception {
        Path runDir = runDir(r);
        Files.createDirectories(runDir);
        Path tokFile = tokenizer(r);
        TokenStream[] streams = streams(r);
        DjlSetup.configure(threads);
        Llama2cConfig cfg = new Llama2cConfig(r.model().dim(), r.model().hiddenDim(), r.model().nLayers(),
                r.model().nHeads(), r.model().nHeads(), r.tokenizer().vocabSize(), r.model().seqLen(),
                r.model().sharedClassifier());
        cfg.validate(r.name());
        TrainingObjective objective = TrainingObjective.of(r.objective(), BpeTrainer.MASK_ID);
        long t0 = System.nanoTime();
        try (NDManager manager = NDManager.newBaseManager();
             LlamaNet net = LlamaNet.init(cfg, r.seed(), manager)) {
            log.accept(String.format("%s: %s objective, %,d parameters (dim %d, hidden %d, %d layers, %d heads, "
                            + "seq_len %d, vocab %d), %d steps x %d x %d tokens, PyTorch threads %d", r.name(),
                    r.objective().kind(), net.parameterCount(), cfg.dim(), cfg.hiddenDim(), cfg.nLayers(),
                    cfg.nHeads(), cfg.seqLen(), cfg.vocabSize(), r.steps(), r.batchSize(), cfg.seqLen(),
                    DjlSetup.threads()));
            double initial = Trainer.heldOutLoss(net, objective, streams[1], cfg.seqLen(), r.batchSize(),
                    r.evalBatches(), r.seed(), manager);
            Trainer trainer = new Trainer(r, net, objective, manager, log);
            trainer.timeBudget(budgetMinutes * 60);
            List<Float> losses = trainer.run(streams[0], manager, runDir);
            double trainSeconds = (System.nanoTime() - t0) / 1e9;
            double held = Trainer.heldOutLoss(net, objective, streams[1], cfg.seqLen(), r.batchSize(),
                    r.evalBatches(), r.seed(), manager);
            log.accept(String.format("%s: held-out loss %.4f, perplexity %.2f (%s)", r.name(), held, Math.exp(held),
                    r.objective().kind().equals("ar") ? "next-token cross-entropy"
                            : r.objective().kind().equals(TiDarObjective.KIND)
                            ? "next-token cross-entropy + draft-block cross-entropy"
                            : "masked-diffusion bound per token"));
            net.writeCheckpoint(runDir.resolve("final.bin"));
            Files.copy(tokFile, runDir.resolve("tokenizer.bin"), StandardCopyOption.REPLACE_EXISTING);
            Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(runDir.resolve("recipe.json").toFile(), r);
            ObjectNode run = Json.MAPPER.createObjectNode();
            run.put("parameters", net.parameterCount());
            run.put("steps", trainer.totalSteps());
            run.put("recipe_steps", r.steps());
            run.set("time_budget_caps", Json.MAPPER.valueToTree(trainer.caps()));
            run.put("time_budget_minutes", budgetMinutes);
            run.put("tokens_seen", (long) trainer.totalSteps() * r.batchSize() * cfg.seqLen());
            run.put("wall_seconds", Math.round(trainSeconds));
            run.put("threads", DjlSetup.threads());
            run.put("train_loss_first", losses.get(0));
            run.put("train_loss_last10_mean", losses.subList(Math.max(0, losses.size() - 10), losses.size())
                    .stream().mapToDouble(Float::doubleValue).filter(Double::isFinite).average().orElse(Double.NaN));
            run.put("heldout_loss_initial", initial);
            run.put("skipped_steps", trainer.skippedSteps());
            run.put("heldout_loss", held);
            run.put("heldout_perplexity", Math.exp(held));
            if (objective instanceof TiDarObjective tidar) {
                // The two roles of a TiDAR model, scored apart on the same held-out windows.
                for (TiDarObjective.Part part : new TiDarObjective.Part[] {TiDarObjective.Part.AUTOREGRESSIVE,
                        TiDarObjective.Part.DRAFT}) {
                    double loss = Trainer.heldOutLoss(net, tidar.scoring(part), streams[1], cfg.seqLen(),
                            r.batchSize(), r.evalBatches(), r.seed(), manager);
                    run.put("heldout_loss_" + (part == TiDarObjective.Part.DRAFT ? "draft" : "ar"), loss);
                    if (part == TiDarObjective.Part.AUTOREGRESSIVE) {
                        run.put("heldout_perplexity", Math.exp(loss)); // the causal rows' perplexity, not of the sum
                    }
                    log.accept(String.format("%s: held-out %s loss %.4f", r.name(), part, loss));
                }
            }
            run.put("heldout_tokens", streams[1].length());
            run.put("train_tokens", streams[0].length());
            run.put("train_bytes", streams[0].bytes());
            run.set("corpus", CorpusBuilder.manifest(corpusDir(r)));
            Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(runDir.resolve("run.json").toFile(), run);
        }
        return runDir;
    }

    /** Exports the run of {@code r} (see {@link Exporter}) into {@code out} (default: the run's export folder). */
    public Path export(Recipe r, Path out, Exporter.Measure measure) throws IOException {
        return new Exporter(this).export(r, runDir(r), out != null ? out : runDir(r).resolve("export"), measure);
    }
}
