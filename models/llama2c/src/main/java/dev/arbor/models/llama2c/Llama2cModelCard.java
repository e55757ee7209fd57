package dev.arbor.models.llama2c;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.ArborException;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.OptionalInt;

/**
 * What a llama2.c checkpoint file cannot say about itself: special tokens and, for diffusion LMs, the MASK id, which
 * position a logit row predicts and the attention the model was trained with.
 *
 * <p>A checkpoint {@code m.bin} may have a sidecar {@code m.card.json} beside it (the project's model forge writes
 * one for every model it trains). The fields read here are {@code name}, {@code bos}, {@code eos} (array),
 * {@code pad}, {@code mask}, {@code alignment} ({@code NEXT}|{@code SAME}), {@code attention}
 * ({@code CAUSAL}|{@code BIDIRECTIONAL}|{@code BLOCK_CAUSAL}|{@code SCALE_CAUSAL}) and {@code block_size} (positive
 * for BLOCK_CAUSAL, absent or 0 otherwise: a SCALE_CAUSAL model's blocks are its image's scales, which the pipeline's
 * image layout gives, not the card); any other field (training
 * facts, samples) is the human model card and is ignored. Without a sidecar the facts are those of llama2.c's
 * run.c: BOS 1, and BOS doubling as the end of a story (run.c stops when the model emits 1).
 *
 * @param name       display name (the sidecar's, else the file name)
 * @param bos        beginning-of-sequence id
 * @param eos        ids that end a sequence
 * @param pad        padding id, if any
 * @param mask       MASK id of diffusion LMs, if any
 * @param alignment  which position a logit row predicts
 * @param attention  the attention pattern the model was trained with
 * @param blockSize  block size of block-causal models, 0 otherwise
 * @param sha256     hex SHA-256 of the sidecar's bytes ("" without one), so caches of derived files can key on it
 * @param outputHeads    {@code output_heads}: logits heads per row (Token-Shuffle), 1 when absent
 * @param continuousHead {@code continuous_head}: the continuous head over the logits columns
 *                       ({@link ContinuousHead#spec()} form), or null when absent
 */
public record Llama2cModelCard(String name, OptionalInt bos, int[] eos, OptionalInt pad, OptionalInt mask,
                               LogitAlignment alignment, NativeAttention attention, int blockSize, String sha256,
                               int outputHeads, ContinuousHead continuousHead) {

    /** A card of an ordinary model (one output head, no continuous head). */
    public Llama2cModelCard(String name, OptionalInt bos, int[] eos, OptionalInt pad, OptionalInt mask,
                            LogitAlignment alignment, NativeAttention attention, int blockSize, String sha256) {
        this(name, bos, eos, pad, mask, alignment, attention, blockSize, sha256, 1, null);
    }

    /** {@code card} with this sidecar's output heads and continuous head. */
    public ModelCard applyHeads(ModelCard card) {
        return outputHeads == 1 && continuousHead == null ? card : card.withHeads(outputHeads, continuousHead);
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    public Llama2cModelCard {
        eos = eos.clone();
    }

    @Override
    public int[] eos() {
        return eos.clone();
    }

    /** The sidecar path of {@code checkpoint}: {@code m.bin} gives {@code m.card.json}. */
    public static Path sidecarOf(Path checkpoint) {
        String file = checkpoint.getFileName().toString();
        int dot = file.lastIndexOf('.');
        String base = dot > 0 ? file.substring(0, dot) : file;
        return checkpoint.resolveSibling(base + ".card.json");
    }

    /**
     * The card of {@code checkpoint}: its sidecar when present, else llama2.c's defaults.
     *
     * @throws ArborException (BAD_MODEL) naming the sidecar and the field when the sidecar is malformed
     */
    public static Llama2cModelCard forCheckpoint(Path checkpoint) {
        Path sidecar = sidecarOf(checkpoint);
        if (!Files.isRegularFile(sidecar)) {
            return new Llama2cModelCard(checkpoint.getFileName().toString(), OptionalInt.of(Llama2cTokenizer.BOS),
                    new int[] {Llama2cTokenizer.BOS}, OptionalInt.empty(), OptionalInt.empty(), LogitAlignment.NEXT,
                    NativeAttention.CAUSAL, 0, "");
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(sidecar);
        } catch (IOException e) {
            throw ArborException.badModel("cannot read the model card " + sidecar + ": " + e.getMessage(), e);
        }
        JsonNode root;
        try {
            root = JSON.readTree(new String(bytes, StandardCharsets.UTF_8));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw ArborException.badModel("model card " + sidecar + " is not valid JSON: " + e.getOriginalMessage(),
                    e);
        }
        if (root == null || !root.isObject()) {
            throw ArborException.badModel("model card " + sidecar + " must be a JSON object", null);
        }
        String name = root.path("name").asText(checkpoint.getFileName().toString());
        OptionalInt bos = optionalId(sidecar, root, "bos");
        int[] eos;
        JsonNode eosNode = root.get("eos");
        if (eosNode == null || eosNode.isNull()) {
            eos = new int[0];
        } else if (eosNode.isInt()) {
            eos = new int[] {eosNode.intValue()};
        } else if (eosNode.isArray()) {
            eos = new int[eosNode.size()];
            for (int i = 0; i < eos.length; i++) {
                if (!eosNode.get(i).isInt() || eosNode.get(i).intValue() < 0) {
                    throw field(sidecar, "eos", "must be an array of non-negative token ids, got " + eosNode);
                }
                eos[i] = eosNode.get(i).intValue();
            }
        } else {
            throw field(sidecar, "eos", "must be a token id or an array of token ids, got " + eosNode);
        }
        LogitAlignment alignment = enumField(sidecar, root, "alignment", LogitAlignment.class, LogitAlignment.NEXT);
        NativeAttention attention = enumField(sidecar, root, "attention", NativeAttention.class,
                NativeAttention.CAUSAL);
        int blockSize = root.path("block_size").asInt(0);
        if (attention == NativeAttention.BLOCK_CAUSAL && blockSize <= 0) {
            throw field(sidecar, "block_size", "must be positive for a BLOCK_CAUSAL model, got " + blockSize);
        }
        if (attention != NativeAttention.BLOCK_CAUSAL && blockSize != 0) {
            throw field(sidecar, "block_size", "is only meaningful for attention BLOCK_CAUSAL (got " + blockSize
                    + " with " + attention + "); remove it or set 0");
        }
        int heads = root.path("output_heads").asInt(1);
        if (heads <= 0) {
            throw field(sidecar, "output_heads", "must be a positive number of logits heads per row, got "
                    + root.get("output_heads"));
        }
        ContinuousHead continuous = null;
        if (root.hasNonNull("continuous_head")) {
            try {
                continuous = ContinuousHead.parse(root.get("continuous_head").asText());
            } catch (IllegalArgumentException e) {
                throw field(sidecar, "continuous_head", e.getMessage());
            }
        }
        return new Llama2cModelCard(name, bos, eos, optionalId(sidecar, root, "pad"), optionalId(sidecar, root, "mask"),
                alignment, attention, blockSize, sha256(bytes), heads, continuous);
    }

    /**
     * Checks every id against the vocabulary of the checkpoint the card describes.
     *
     * @throws ArborException (BAD_MODEL) naming the field and the id
     */
    public Llama2cModelCard validateAgainst(Llama2cConfig config, String source) {
        int vocab = config.vocabSize();
        checkId(source, "bos", bos, vocab);
        checkId(source, "pad", pad, vocab);
        checkId(source, "mask", mask, vocab);
        for (int e : eos) {
            checkId(source, "eos", OptionalInt.of(e), vocab);
        }
        if (vocab % outputHeads != 0) {
            throw ArborException.badModel("model card of " + source + ": output_heads " + outputHeads
                    + " does not divide the checkpoint's vocabulary " + vocab, null);
        }
        if (continuousHead != null && continuousHead.maxId() > vocab) {
            throw ArborException.badModel("model card of " + source + ": continuous_head " + continuousHead.spec()
                    + " uses ids and columns up to " + (continuousHead.maxId() - 1)
                    + " but the checkpoint's vocabulary is [0, " + vocab + ")", null);
        }
        return this;
    }

    private static void checkId(String source, String field, OptionalInt id, int vocab) {
        if (id.isPresent() && (id.getAsInt() < 0 || id.getAsInt() >= vocab)) {
            throw ArborException.badModel("model card of " + source + ": " + field + " id " + id.getAsInt()
                    + " is outside the checkpoint's vocabulary [0, " + vocab + ")", null);
        }
    }

    private static OptionalInt optionalId(Path sidecar, JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return OptionalInt.empty();
        }
        if (!n.isInt() || n.intValue() < 0) {
            throw field(sidecar, key, "must be a non-negative token id or null, got " + n);
        }
        return OptionalInt.of(n.intValue());
    }

    private static <E extends Enum<E>> E enumField(Path sidecar, JsonNode root, String key, Class<E> type,
                                                   E fallback) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return fallback;
        }
        try {
            return Enum.valueOf(type, n.asText().trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw field(sidecar, key, "'" + n.asText() + "' is not one of "
                    + java.util.Arrays.toString(type.getEnumConstants()));
        }
    }

    private static ArborException field(Path sidecar, String key, String problem) {
        return ArborException.badModel("model card " + sidecar + ": field '" + key + "' " + problem, null);
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
