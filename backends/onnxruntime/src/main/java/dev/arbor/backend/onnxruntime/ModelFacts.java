package dev.arbor.backend.onnxruntime;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Facts about a decoder that its ONNX graph does not carry: special token ids, context length, vocabulary and
 * hidden size. They are looked up, per fact, in this order:
 * <ol>
 *   <li>{@code genai_config.json} next to the file (onnxruntime-genai's model description);</li>
 *   <li>the model's {@code arbor.*} metadata properties (written by Arbor's own converters);</li>
 *   <li>an HF {@code config.json} next to the file (Optimum exports ship it);</li>
 *   <li>the {@link Options} of the model spec: {@code vocab_size}, {@code max_positions}, {@code eos_token_ids},
 *       {@code bos_token_id}, {@code pad_token_id}, {@code hidden_size}.</li>
 * </ol>
 * Diffusion-LM facts (MASK id, logit alignment, native attention, block size) come from the {@code arbor.*}
 * metadata, which the llama2.c converter copies from the checkpoint's model card, or from the options
 * {@code mask_token_id}, {@code alignment}, {@code attention}, {@code block_size} (options win: they describe a
 * foreign export the metadata does not cover).
 * The vocabulary falls back to the static last dimension of the {@code logits} output.
 */
record ModelFacts(int vocabSize, int maxPositions, int hiddenSize, OptionalInt bos, int[] eos, OptionalInt pad,
                  OptionalInt mask, LogitAlignment alignment, NativeAttention attention, int blockSize,
                  int outputHeads, ContinuousHead continuousHead, String source) {

    /** Reads the side files of {@code onnxFile} (before the session exists, so KV hints can be applied). */
    static Sources sources(Path onnxFile, Map<String, String> metadata, Options options) {
        Path dir = onnxFile.toAbsolutePath().getParent();
        Map<String, Object> genai = dir == null ? Map.of() : readJson(dir.resolve("genai_config.json"));
        Map<String, Object> hf = dir == null ? Map.of() : readJson(dir.resolve("config.json"));
        return new Sources(onnxFile, sub(genai, "model"), metadata, hf, options,
                !genai.isEmpty() ? "genai_config.json" : !metadata.isEmpty() ? "arbor metadata"
                        : !hf.isEmpty() ? "config.json" : "options");
    }

    /** The side information of one model file, queried fact by fact in priority order. */
    record Sources(Path file, Map<String, Object> genaiModel, Map<String, String> metadata, Map<String, Object> hf,
                   Options options, String primary) {

        /** KV heads per layer when a source states it, else -1. */
        int kvHeads() {
            return firstInt(num(sub(genaiModel, "decoder"), "num_key_value_heads"), meta("arbor.num_kv_heads"),
                    num(hf, "num_key_value_heads"), -1);
        }

        /** Head size when a source states it, else -1. */
        int headDim() {
            return firstInt(num(sub(genaiModel, "decoder"), "head_size"), meta("arbor.head_dim"),
                    num(hf, "head_dim"), -1);
        }

        /** Resolves every fact; {@code logitsVocab} is the graph's static vocabulary (-1 when symbolic). */
        ModelFacts resolve(int logitsVocab) {
            Integer vocab = first(num(genaiModel, "vocab_size"), meta("arbor.vocab_size"), num(hf, "vocab_size"),
                    opt("vocab_size"));
            if (vocab == null) {
                if (logitsVocab <= 0) {
                    throw ArborException.badModel("ONNX model '" + file + "': the vocabulary size is unknown (the "
                            + "logits output is symbolic and no genai_config.json, config.json or arbor.vocab_size "
                            + "metadata gives it); set option vocab_size.", null);
                }
                vocab = logitsVocab;
            } else if (logitsVocab > 0 && vocab != logitsVocab) {
                throw ArborException.badModel("ONNX model '" + file + "': vocabulary size " + vocab + " (from "
                        + primary + ") does not match the logits output's last dimension " + logitsVocab + ".", null);
            }
            Integer context = first(num(genaiModel, "context_length"), meta("arbor.max_positions"),
                    num(hf, "max_position_embeddings"), num(hf, "n_positions"), opt("max_positions"));
            if (context == null || context <= 0) {
                throw ArborException.badModel("ONNX model '" + file + "': the context length is unknown (no "
                        + "genai_config.json context_length, arbor.max_positions metadata or config.json "
                        + "max_position_embeddings); set option max_positions.", null);
            }
            int hidden = firstInt(num(genaiModel, "hidden_size"), meta("arbor.hidden_size"), num(hf, "hidden_size"),
                    firstInt(num(hf, "n_embd"), opt("hidden_size"), null, 0));
            Integer bos = first(num(genaiModel, "bos_token_id"), meta("arbor.bos_token_id"), num(hf, "bos_token_id"),
                    opt("bos_token_id"));
            Integer pad = first(num(genaiModel, "pad_token_id"), meta("arbor.pad_token_id"), num(hf, "pad_token_id"),
                    opt("pad_token_id"));
            int[] eos = ids(genaiModel.get("eos_token_id"));
            if (eos == null) {
                eos = metadata.containsKey("arbor.eos_token_ids") ? parseIds("arbor.eos_token_ids",
                        metadata.get("arbor.eos_token_ids")) : null;
            }
            if (eos == null) {
                eos = ids(hf.get("eos_token_id"));
            }
            if (eos == null) {
                eos = options.integers("eos_token_ids");
            }
            for (int e : eos) {
                if (e < 0 || e >= vocab) {
                    throw ArborException.badModel("ONNX model '" + file + "': eos token id " + e + " is outside the "
                            + "vocabulary [0, " + vocab + ").", null);
                }
            }
            // Diffusion-LM facts: written by Arbor's converters from a model card, or set as options.
            Integer mask = first(meta("arbor.mask_token_id"), opt("mask_token_id"));
            if (mask != null && mask >= vocab) {
                throw ArborException.badModel("ONNX model '" + file + "': mask token id " + mask + " is outside the "
                        + "vocabulary [0, " + vocab + ").", null);
            }
            LogitAlignment alignment = word("arbor.alignment", "alignment", LogitAlignment.class,
                    LogitAlignment.NEXT);
            NativeAttention attention = word("arbor.attention", "attention", NativeAttention.class,
                    NativeAttention.CAUSAL);
            int blockSize = firstInt(opt("block_size"), meta("arbor.block_size"), null, 0);
            if (attention == NativeAttention.BLOCK_CAUSAL && blockSize <= 0) {
                throw ArborException.badModel("ONNX model '" + file + "': a BLOCK_CAUSAL model needs a positive "
                        + "block size (metadata arbor.block_size or option block_size).", null);
            }
            // Token-Shuffle heads and continuous heads: written by the converter from a model card
            int heads = firstInt(meta("arbor.output_heads"), null, null, 1);
            if (heads <= 0 || vocab % heads != 0) {
                throw ArborException.badModel("ONNX model '" + file + "': arbor.output_heads " + heads
                        + " must be positive and divide the vocabulary " + vocab + ".", null);
            }
            ContinuousHead continuous = null;
            if (metadata.containsKey("arbor.continuous_head")) {
                try {
                    continuous = ContinuousHead.parse(metadata.get("arbor.continuous_head"));
                } catch (IllegalArgumentException e) {
                    throw ArborException.badModel("ONNX model '" + file + "': " + e.getMessage(), e);
                }
            }
            return new ModelFacts(vocab, context, hidden, bos == null ? OptionalInt.empty() : OptionalInt.of(bos),
                    eos, pad == null ? OptionalInt.empty() : OptionalInt.of(pad),
                    mask == null ? OptionalInt.empty() : OptionalInt.of(mask), alignment, attention, blockSize,
                    heads, continuous, primary);
        }

        /** An enum fact: the option {@code optionKey} wins over the metadata {@code metaKey}. */
        private <E extends Enum<E>> E word(String metaKey, String optionKey, Class<E> type, E fallback) {
            String v = options.has(optionKey) ? options.string(optionKey, null) : metadata.get(metaKey);
            if (v == null || v.isBlank()) {
                return fallback;
            }
            try {
                return Enum.valueOf(type, v.trim().toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw ArborException.badModel("ONNX model '" + file + "': " + (options.has(optionKey) ? "option "
                        + optionKey : "metadata " + metaKey) + "='" + v + "' is not one of "
                        + java.util.Arrays.toString(type.getEnumConstants()) + ".", e);
            }
        }

        private Integer meta(String key) {
            String v = metadata.get(key);
            if (v == null || v.isBlank()) {
                return null;
            }
            try {
                return Integer.parseInt(v.trim());
            } catch (NumberFormatException e) {
                throw ArborException.badModel("ONNX model '" + file + "': metadata " + key + "='" + v
                        + "' is not an integer.", e);
            }
        }

        private int[] parseIds(String key, String v) {
            List<Integer> out = new ArrayList<>();
            for (String s : v.split(",")) {
                if (!s.isBlank()) {
                    try {
                        out.add(Integer.parseInt(s.trim()));
                    } catch (NumberFormatException e) {
                        throw ArborException.badModel("ONNX model '" + file + "': metadata " + key + "='" + v
                                + "' is not a comma-separated list of integers.", e);
                    }
                }
            }
            return out.stream().mapToInt(Integer::intValue).toArray();
        }

        private Integer opt(String key) {
            return options.has(key) ? options.integer(key, 0, 0, Integer.MAX_VALUE) : null;
        }
    }

    private static Integer num(Map<String, Object> map, String key) {
        return map.get(key) instanceof Number n ? n.intValue() : null;
    }

    private static int[] ids(Object v) {
        if (v instanceof Number n) {
            return new int[] {n.intValue()};
        }
        if (v instanceof List<?> list) {
            return list.stream().filter(Number.class::isInstance).mapToInt(o -> ((Number) o).intValue()).toArray();
        }
        return null;
    }

    @SafeVarargs
    private static <T> T first(T... values) {
        for (T v : values) {
            if (v != null) {
                return v;
            }
        }
        return null;
    }

    private static int firstInt(Integer a, Integer b, Integer c, int fallback) {
        Integer v = first(a, b, c);
        return v == null ? fallback : v;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> sub(Map<String, Object> map, String key) {
        return map.get(key) instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON =
            new com.fasterxml.jackson.databind.ObjectMapper();

    @SuppressWarnings("unchecked")
    static Map<String, Object> readJson(Path file) {
        if (!Files.isRegularFile(file)) {
            return Map.of();
        }
        try {
            Object v = JSON.readValue(Files.readString(file, StandardCharsets.UTF_8), Object.class);
            if (v instanceof Map<?, ?> m) {
                return (Map<String, Object>) m;
            }
            throw ArborException.badModel("'" + file + "' is not a JSON object.", null);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw ArborException.badModel("'" + file + "' is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw ArborException.badModel("cannot read '" + file + "': " + e.getMessage(), e);
        }
    }
}
