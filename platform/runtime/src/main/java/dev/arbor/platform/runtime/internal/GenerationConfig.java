package dev.arbor.platform.runtime.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face {@code generation_config.json} next to the model file (or, failing that, next to the tokenizer)
 * read as request defaults. They rank lowest: generation_config.json &lt; the pipeline's {@code defaults} &lt; the
 * request's values &lt; a part's own options in the pipeline file.
 *
 * <p>Mapped keys: {@code temperature}, {@code top_p}, {@code top_k}, {@code repetition_penalty} (same names),
 * {@code max_new_tokens} as {@code max_tokens}, {@code do_sample: false} as {@code temperature} 0 (greedy, which is
 * what transformers does whatever the temperature says), and {@code eos_token_id} (an id or a list) as extra stop
 * ids next to the model's EOS (as vLLM adds them). Other keys are ignored. Values out of range are left to the
 * parts that read them, which name the option.
 *
 * @param defaults the mapped request defaults
 * @param stopIds  ids that end generation besides the model's EOS
 * @param source   the file read, or null when there was none
 */
record GenerationConfig(Options defaults, int[] stopIds, Path source) {
    static final String FILE = "generation_config.json";
    static final GenerationConfig NONE = new GenerationConfig(Options.empty(), new int[0], null);
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** The generation_config.json next to {@code modelPath}, else next to {@code tokenizerPath}; null without one. */
    static Path locate(String modelPath, String tokenizerPath) {
        for (String p : new String[] {modelPath, tokenizerPath}) {
            if (p == null) {
                continue;
            }
            Path path = Path.of(p);
            Path file = Files.isDirectory(path) ? path.resolve(FILE) : path.resolveSibling(FILE);
            if (Files.isRegularFile(file)) {
                return file;
            }
        }
        return null;
    }

    static GenerationConfig read(Path file) {
        JsonNode root;
        try {
            root = MAPPER.readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            throw ArborException.badModel(file + " cannot be read as JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw ArborException.badModel(file + " is not a generation_config.json: expected a JSON object", null);
        }
        Map<String, Object> defaults = new LinkedHashMap<>();
        number(root, "temperature", "temperature", defaults, file);
        number(root, "top_p", "top_p", defaults, file);
        integer(root, "top_k", "top_k", defaults, file);
        number(root, "repetition_penalty", "repetition_penalty", defaults, file);
        integer(root, "max_new_tokens", "max_tokens", defaults, file);
        JsonNode sample = root.get("do_sample");
        if (sample != null && sample.isBoolean() && !sample.booleanValue()) {
            defaults.put("temperature", 0.0); // transformers decodes greedily without do_sample
        }
        List<Integer> stops = new ArrayList<>();
        JsonNode eos = root.get("eos_token_id");
        if (eos != null && !eos.isNull()) {
            if (eos.isIntegralNumber()) {
                stops.add(eos.intValue());
            } else if (eos.isArray()) {
                for (JsonNode id : eos) {
                    if (!id.isIntegralNumber()) {
                        throw ArborException.badModel(file + ": \"eos_token_id\" must be an id or a list of ids, got "
                                + eos, null);
                    }
                    stops.add(id.intValue());
                }
            } else {
                throw ArborException.badModel(file + ": \"eos_token_id\" must be an id or a list of ids, got " + eos,
                        null);
            }
        }
        return new GenerationConfig(Options.of(defaults), stops.stream().mapToInt(Integer::intValue).toArray(), file);
    }

    private static void number(JsonNode root, String key, String option, Map<String, Object> out, Path file) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) {
            return;
        }
        if (!v.isNumber()) {
            throw ArborException.badModel(file + ": \"" + key + "\" must be a number, got " + v, null);
        }
        out.put(option, v.doubleValue());
    }

    private static void integer(JsonNode root, String key, String option, Map<String, Object> out, Path file) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) {
            return;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw ArborException.badModel(file + ": \"" + key + "\" must be an integer, got " + v, null);
        }
        out.put(option, v.intValue());
    }

    /** The generation_config.json of each pipeline, read again when its file changes (size or time). */
    static final class Cache {
        private final java.util.concurrent.ConcurrentHashMap<Path, Cached> files =
                new java.util.concurrent.ConcurrentHashMap<>();

        private record Cached(long stamp, GenerationConfig config) {
        }

        /** The file next to {@code d}'s model, else next to its tokenizer; NONE without one. */
        GenerationConfig of(dev.arbor.api.pipeline.PipelineDefinition d) {
            Path file = locate(d.model().path(), d.tokenizer().path());
            if (file == null) {
                return NONE;
            }
            long stamp;
            try {
                stamp = Files.getLastModifiedTime(file).to(java.util.concurrent.TimeUnit.NANOSECONDS) * 31
                        + Files.size(file);
            } catch (IOException e) {
                throw ArborException.badModel(file + " cannot be read: " + e, e);
            }
            Cached cached = files.get(file);
            if (cached != null && cached.stamp() == stamp) {
                return cached.config();
            }
            GenerationConfig read = read(file);
            files.put(file, new Cached(stamp, read));
            return read;
        }
    }
}
