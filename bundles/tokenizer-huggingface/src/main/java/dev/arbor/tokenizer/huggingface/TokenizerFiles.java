package dev.arbor.tokenizer.huggingface;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonReader;
import dev.arbor.api.ArborException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * What Arbor needs from a {@code tokenizer.json} that DJL's binding does not expose: the number of ids, the
 * vocabulary entry of each id, which ids are special, and the BOS/EOS ids. The JNI surface of DJL 0.36.0 offers
 * encode/decode only (no {@code get_vocab_size}, {@code id_to_token} or {@code token_to_id}), so this reads the
 * same file the native tokenizer reads; the two cannot disagree.
 *
 * @param file          the tokenizer.json, absolute
 * @param bytes         its content, handed to the native tokenizer so the file is read once
 * @param idToToken     vocabulary entry per id; null where no entry has that id
 * @param baseVocabSize entries of the model's own vocabulary (without tokens added on top of it)
 * @param special       true for ids of added tokens marked special (skipped by decode)
 * @param bos           beginning-of-sequence id
 * @param eos           end-of-sequence id
 * @param tokenBytes    the bytes each id appends to decoded text, from the decoder ({@link TokenBytes}); null
 *                      when the decoder is of a family {@link TokenBytes} does not model
 */
record TokenizerFiles(Path file, byte[] bytes, String[] idToToken, int baseVocabSize, boolean[] special,
        OptionalInt bos, OptionalInt eos, byte[][] tokenBytes) {

    /** The file that carries BOS/EOS for Hugging Face tokenizers, next to tokenizer.json. */
    static final String CONFIG_FILE = "tokenizer_config.json";

    /** Token names that mark a BOS when no tokenizer_config.json says so, most specific first. */
    private static final List<String> BOS_NAMES = List.of("<|begin_of_text|>", "<|startoftext|>", "<s>", "<bos>",
            "<BOS>", "[BOS]", "<|endoftext|>");
    /** Token names that mark an EOS when no tokenizer_config.json says so (GPT-2 uses one token for both). */
    private static final List<String> EOS_NAMES = List.of("<|end_of_text|>", "</s>", "<eos>", "<EOS>", "[EOS]",
            "<|endoftext|>");

    /** Number of ids: the model's vocabulary and the added tokens together (what encode can return). */
    int vocabSize() {
        return idToToken.length;
    }

    /**
     * Resolves {@code path} (a tokenizer.json, or a folder holding one), reads it and the tokenizer_config.json
     * next to it, and checks that it is a tokenizer.json at all.
     */
    static TokenizerFiles read(Path path) {
        if (path == null) {
            throw ArborException.invalid("no tokenizer path given");
        }
        Path file = path.toAbsolutePath().normalize();
        if (Files.isDirectory(file)) {
            Path inside = file.resolve("tokenizer.json");
            if (!Files.exists(inside)) {
                throw new ArborException(ArborException.Kind.NOT_FOUND, "tokenizer folder " + file
                        + " holds no tokenizer.json; give the path of a Hugging Face tokenizer.json or of its folder");
            }
            file = inside;
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "tokenizer file " + file + " does not exist;"
                    + " give the path of a Hugging Face tokenizer.json or of its folder", e);
        } catch (IOException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "tokenizer file " + file + " cannot be read: "
                    + e, e);
        }
        JsonObject json = parseObject(file, bytes, "a Hugging Face tokenizer.json");
        if (!(json.get("model") instanceof JsonObject model)) {
            throw ArborException.badModel(file + " is not a Hugging Face tokenizer.json: it has no \"model\" object"
                    + " (a tokenizer.json is what tokenizers' Tokenizer.save() or transformers' save_pretrained()"
                    + " writes; vocab.json, config.json and tokenizer_config.json are other files)", null);
        }
        return build(file, bytes, json, model, readConfig(file.resolveSibling(CONFIG_FILE)));
    }

    private static TokenizerFiles build(Path file, byte[] bytes, JsonObject json, JsonObject model,
            JsonObject config) {
        Map<Integer, String> entries = new HashMap<>();
        int baseVocabSize = readModelVocabulary(file, model, entries);
        Map<String, Integer> added = new HashMap<>();
        Map<Integer, Boolean> specialIds = new HashMap<>();
        if (json.get("added_tokens") instanceof JsonArray tokens) {
            for (JsonElement element : tokens) {
                if (element instanceof JsonObject token && token.get("id") != null && token.get("content") != null) {
                    int id = intValue(file, token.get("id"), "added_tokens[].id");
                    String content = token.get("content").getAsString();
                    entries.put(id, content);
                    added.put(content, id);
                    specialIds.put(id, token.get("special") != null && token.get("special").getAsBoolean());
                }
            }
        }
        int size = entries.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        if (size == 0) {
            throw ArborException.badModel(file + " is not a usable tokenizer.json: its vocabulary is empty", null);
        }
        String[] idToToken = new String[size];
        entries.forEach((id, token) -> idToToken[id] = token);
        boolean[] special = new boolean[size];
        specialIds.forEach((id, isSpecial) -> special[id] = isSpecial);

        Map<String, Integer> lookup = new HashMap<>();
        for (int id = 0; id < size; id++) {
            if (idToToken[id] != null) {
                lookup.putIfAbsent(idToToken[id], id);
            }
        }
        lookup.putAll(added); // an added token wins over a vocabulary entry with the same text, as in tokenizers
        Path configFile = file.resolveSibling(CONFIG_FILE);
        OptionalInt bos = configured(config, "bos_token", lookup, configFile);
        if (bos == null) {
            bos = templatePrefix(json.get("post_processor"));
            if (bos.isEmpty()) {
                bos = byName(BOS_NAMES, added, special);
            }
        }
        OptionalInt eos = configured(config, "eos_token", lookup, configFile);
        if (eos == null) {
            eos = byName(EOS_NAMES, added, special);
        }
        return new TokenizerFiles(file, bytes, idToToken, baseVocabSize, special, bos, eos,
                TokenBytes.table(json.get("decoder"), idToToken, special));
    }

    /**
     * Fills {@code entries} from {@code model.vocab}: an object {token: id} for BPE, WordPiece and WordLevel, or a
     * list of [piece, score] pairs for Unigram, where the id is the position.
     */
    private static int readModelVocabulary(Path file, JsonObject model, Map<Integer, String> entries) {
        JsonElement vocab = model.get("vocab");
        if (vocab instanceof JsonObject map) {
            for (Map.Entry<String, JsonElement> entry : map.entrySet()) {
                entries.put(intValue(file, entry.getValue(), "model.vocab"), entry.getKey());
            }
            return map.size();
        }
        if (vocab instanceof JsonArray pieces) {
            for (int id = 0; id < pieces.size(); id++) {
                JsonElement piece = pieces.get(id);
                String text = piece instanceof JsonArray pair && !pair.isEmpty() ? pair.get(0).getAsString()
                        : piece.isJsonPrimitive() ? piece.getAsString() : null;
                if (text != null) {
                    entries.put(id, text);
                }
            }
            return pieces.size();
        }
        String type = model.get("type") == null ? "?" : model.get("type").getAsString();
        throw ArborException.badModel(file + " is not a usable tokenizer.json: model (type " + type + ") has no"
                + " \"vocab\"", null);
    }

    /**
     * The id of {@code key} in tokenizer_config.json: null when the file or the key is absent (then other sources
     * decide), empty when the key is null (the model has no such token). The value is a string or an AddedToken
     * object with a "content" field.
     */
    private static OptionalInt configured(JsonObject config, String key, Map<String, Integer> lookup,
            Path configFile) {
        if (config == null || !config.has(key)) {
            return null;
        }
        JsonElement value = config.get(key);
        if (value.isJsonNull()) {
            return OptionalInt.empty();
        }
        String token = value instanceof JsonObject object && object.get("content") != null
                ? object.get("content").getAsString()
                : value.isJsonPrimitive() ? value.getAsString() : null;
        if (token == null) {
            throw ArborException.badModel(configFile + ": \"" + key + "\" must be a token string or an object with"
                    + " \"content\", got " + value, null);
        }
        Integer id = lookup.get(token);
        if (id == null) {
            throw ArborException.badModel(configFile + " names " + key + " '" + token + "', which the tokenizer.json"
                    + " next to it does not contain; the two files do not belong together", null);
        }
        return OptionalInt.of(id);
    }

    /**
     * The special token that a TemplateProcessing post-processor puts before the text ("$A") of a single
     * sequence: that is what the model expects as BOS (Llama, Mistral, ...). Looks inside "Sequence" processors.
     */
    private static OptionalInt templatePrefix(JsonElement processor) {
        if (!(processor instanceof JsonObject object) || object.get("type") == null) {
            return OptionalInt.empty();
        }
        String type = object.get("type").getAsString();
        if (type.equals("Sequence") && object.get("processors") instanceof JsonArray processors) {
            for (JsonElement inner : processors) {
                OptionalInt found = templatePrefix(inner);
                if (found.isPresent()) {
                    return found;
                }
            }
            return OptionalInt.empty();
        }
        if (!type.equals("TemplateProcessing") || !(object.get("single") instanceof JsonArray single)
                || single.isEmpty() || !(single.get(0) instanceof JsonObject first)
                || !(first.get("SpecialToken") instanceof JsonObject specialToken)
                || !(object.get("special_tokens") instanceof JsonObject specials)
                || specialToken.get("id") == null
                || !(specials.get(specialToken.get("id").getAsString()) instanceof JsonObject entry)
                || !(entry.get("ids") instanceof JsonArray ids) || ids.size() != 1) {
            return OptionalInt.empty();
        }
        return OptionalInt.of(ids.get(0).getAsInt());
    }

    private static OptionalInt byName(List<String> names, Map<String, Integer> added, boolean[] special) {
        for (String name : names) {
            Integer id = added.get(name);
            if (id != null && special[id]) {
                return OptionalInt.of(id);
            }
        }
        return OptionalInt.empty();
    }

    private static JsonObject readConfig(Path configFile) {
        if (!Files.isRegularFile(configFile)) {
            return null;
        }
        try {
            return parseObject(configFile, Files.readAllBytes(configFile), "a tokenizer_config.json");
        } catch (IOException e) {
            throw ArborException.badModel(configFile + " exists but cannot be read: " + e, e);
        }
    }

    private static JsonObject parseObject(Path file, byte[] bytes, String what) {
        try (JsonReader reader = new JsonReader(new InputStreamReader(new ByteArrayInputStream(bytes),
                StandardCharsets.UTF_8))) {
            JsonElement element = JsonParser.parseReader(reader);
            if (!(element instanceof JsonObject object)) {
                throw ArborException.badModel(file + " is not " + what + ": expected a JSON object, found "
                        + (element.isJsonNull() ? "an empty file" : element.getClass().getSimpleName()), null);
            }
            return object;
        } catch (JsonParseException | IllegalStateException e) {
            throw ArborException.badModel(file + " is not " + what + ": it is not valid JSON ("
                    + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()) + ")", e);
        } catch (IOException e) {
            throw ArborException.badModel(file + " cannot be read: " + e, e);
        }
    }

    private static int intValue(Path file, JsonElement element, String where) {
        try {
            int id = element.getAsInt();
            if (id < 0) {
                throw new NumberFormatException("negative");
            }
            return id;
        } catch (RuntimeException e) {
            throw ArborException.badModel(file + " is not a usable tokenizer.json: " + where + " holds " + element
                    + " where a token id (a non-negative integer) belongs", e);
        }
    }
}
