package dev.arbor.tests.diffusion;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Where the model forge's committed models live: {@code models/trained/<name>/<name>.bin} with its sidecar
 * {@code <name>.card.json}, and the shared {@code tokenizer.bin} (beside the model or once in {@code models/trained}).
 * The folder is the repository's own, never {@code ../shared}: system property {@code arbor.trained} (the module's
 * Surefire configuration points it at {@code ../../models/trained}), else environment variable
 * {@code ARBOR_TRAINED}, else {@code models/trained} under the working directory.
 */
public final class TrainedModels {
    /** The masked-diffusion LM (LLaDA objective; card: BIDIRECTIONAL, SAME alignment, MASK id). */
    public static final String MDLM = "arbor-tiny-mdlm";
    /** The block-diffusion LM (BD3-LM objective; card: BLOCK_CAUSAL with its block size). */
    public static final String BD = "arbor-tiny-bd";
    /** The default autoregressive LM: the quality judge, and a causal model every diffusion strategy must refuse. */
    public static final String AR = "arbor-tiny-ar";
    /** The small autoregressive draft: the guide of guided diffusion (not the judge, which would grade itself). */
    public static final String DRAFT = "arbor-tiny-draft";

    private final Path root;

    private TrainedModels(Path root) {
        this.root = root;
    }

    /** The configured folder (it may not exist). */
    public static TrainedModels located() {
        String configured = System.getProperty("arbor.trained", System.getenv("ARBOR_TRAINED"));
        Path root = Path.of(configured == null || configured.isBlank() ? "models/trained" : configured);
        return new TrainedModels(root.toAbsolutePath().normalize());
    }

    /** The models in {@code root}. */
    public static TrainedModels at(Path root) {
        return new TrainedModels(root.toAbsolutePath().normalize());
    }

    public Path root() {
        return root;
    }

    /** The checkpoint of model {@code name}: {@code <root>/<name>/<name>.bin}. */
    public Path checkpoint(String name) {
        return root.resolve(name).resolve(name + ".bin");
    }

    /** The tokenizer of model {@code name}: beside the checkpoint if present, else the shared one in the root. */
    public Path tokenizer(String name) {
        Path beside = root.resolve(name).resolve("tokenizer.bin");
        return Files.isRegularFile(beside) ? beside : root.resolve("tokenizer.bin");
    }

    /** The model card written by the forge ({@code <root>/<name>/MODEL_CARD.md}). */
    public Path modelCard(String name) {
        return root.resolve(name).resolve("MODEL_CARD.md");
    }

    /** The files of {@code names} (checkpoint, sidecar card, tokenizer) that are missing; empty when all exist. */
    public List<Path> missing(String... names) {
        List<Path> missing = new ArrayList<>();
        for (String name : names) {
            Path bin = checkpoint(name);
            for (Path p : List.of(bin, bin.resolveSibling(name + ".card.json"), tokenizer(name))) {
                if (!Files.isRegularFile(p) && !missing.contains(p)) {
                    missing.add(p);
                }
            }
        }
        return missing;
    }
}
