package dev.arbor.platform.runtime.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.ArborException;
import dev.arbor.api.pipeline.ChatMessage;
import dev.arbor.api.pipeline.ChatTemplateEngine;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.RenderedChat;
import dev.arbor.api.pipeline.TokenizerRef;
import dev.arbor.api.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where a pipeline's chat template comes from, and how its rendering becomes prompt ids.
 *
 * <p>The template: the pipeline file's {@code "tokenizer": {"chat_template": ...}} when given (the name of a built-in
 * template, {@link #BUILT_IN}, or Jinja text), else the {@code chat_template} of the {@code tokenizer_config.json}
 * next to the tokenizer (a string, or a list of {@code {name, template}} entries of which {@code default} is used, as
 * {@code transformers} does), else none: the HTTP server then joins the messages' texts as before. Requests never
 * name a template.
 *
 * <p>Special tokens: {@code bos_token} and {@code eos_token} are the strings of tokenizer_config.json (a string or an
 * {@code {"content": ...}} object); a tokenizer without one uses {@code <s>} and {@code </s>} for the ids it has.
 *
 * <p>Tokenizing: the rendered text is encoded without adding special tokens, as {@code apply_chat_template(
 * tokenize=True)} does (templates write BOS themselves). Tokenizers that read special-token strings in text
 * (Hugging Face's) encode it in one piece; for those that do not (llama2.c's), the text is split at the
 * {@code bos_token} and {@code eos_token} strings, which become their ids, and the pieces between are encoded alone.
 */
final class ChatTemplates {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    static final String CONFIG_FILE = "tokenizer_config.json";
    static final String DEFAULT_BOS = "<s>";
    static final String DEFAULT_EOS = "</s>";

    /** Built-in templates an operator may name. */
    static final Map<String, String> BUILT_IN = Map.of(
            // the messages' texts joined by a blank line after BOS: the HTTP server's plain rendering as a template,
            // for base models trained on plain text (the project's own models, llama2.c stories)
            "arbor-plain", "{%- set ns = namespace(started=false) -%}{{- bos_token -}}"
                    + "{%- for message in messages -%}{%- if message['content'] -%}"
                    + "{%- if ns.started -%}{{- '\\n\\n' -}}{%- endif -%}{{- message['content'] -}}"
                    + "{%- set ns.started = true -%}{%- endif -%}{%- endfor -%}",
            // ChatML (OpenAI's chat markup, used by many open models)
            "chatml", "{%- for message in messages -%}{{- '<|im_start|>' + message['role'] + '\\n' + message['content']"
                    + " + '<|im_end|>\\n' -}}{%- endfor -%}{%- if add_generation_prompt -%}"
                    + "{{- '<|im_start|>assistant\\n' -}}{%- endif -%}");

    /** A resolved template with the special-token strings it is rendered with. */
    record Template(String text, String source, String bosToken, String eosToken) {
    }

    private ChatTemplates() {
    }

    /** The pipeline's template, or empty when it has none. */
    static Optional<Template> resolve(String pipeline, TokenizerRef ref, Tokenizer tokenizer) {
        JsonNode config = readConfig(ref);
        String bos = specialToken(config, "bos_token", tokenizer.bosTokenId().isPresent() ? DEFAULT_BOS : "");
        String eos = specialToken(config, "eos_token", tokenizer.eosTokenId().isPresent() ? DEFAULT_EOS : "");
        String given = ref.chatTemplate();
        if (given != null) {
            if (BUILT_IN.containsKey(given)) {
                return Optional.of(new Template(BUILT_IN.get(given), given, bos, eos));
            }
            if (given.contains("{{") || given.contains("{%")) {
                return Optional.of(new Template(given, "pipeline file", bos, eos));
            }
            throw ArborException.invalid("pipeline '" + pipeline + "': \"chat_template\" '" + shorten(given)
                    + "' is neither a built-in template (" + String.join(", ", BUILT_IN.keySet().stream().sorted()
                    .toList()) + ") nor Jinja text; name a built-in or write the template");
        }
        if (config == null || !config.has("chat_template") || config.get("chat_template").isNull()) {
            return Optional.empty();
        }
        JsonNode template = config.get("chat_template");
        if (template.isTextual()) {
            return Optional.of(new Template(template.asText(), CONFIG_FILE, bos, eos));
        }
        if (template.isArray()) {
            for (JsonNode entry : template) {
                if ("default".equals(entry.path("name").asText()) && entry.path("template").isTextual()) {
                    return Optional.of(new Template(entry.get("template").asText(), CONFIG_FILE + " (default)",
                            bos, eos));
                }
            }
        }
        throw ArborException.badModel("pipeline '" + pipeline + "': the " + CONFIG_FILE + " next to its tokenizer has"
                + " a \"chat_template\" that is neither a string nor a list with a {\"name\": \"default\","
                + " \"template\": ...} entry", null);
    }

    /**
     * {@code messages} rendered with pipeline {@code d}'s template by {@code engine} (add_generation_prompt true)
     * and encoded; empty when the pipeline has no template. Fails with UNAVAILABLE when it has one but no engine is
     * installed, with the engine's INVALID_INPUT when the template refuses the conversation, and with BAD_MODEL
     * naming the template's source when it cannot be rendered.
     */
    static Optional<RenderedChat> render(PipelineDefinition d, Tokenizer tokenizer, ChatTemplateEngine engine,
                                         List<ChatMessage> messages) {
        Optional<Template> found = resolve(d.name(), d.tokenizer(), tokenizer);
        if (found.isEmpty()) {
            return Optional.empty();
        }
        Template template = found.get();
        if (engine == null) {
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "pipeline '" + d.name() + "' has a chat"
                    + " template (" + template.source() + ") but no chat template engine is installed (bundle"
                    + " dev.arbor.chat.template)");
        }
        String text;
        try {
            text = engine.render(template.text(), messages, true, template.bosToken(), template.eosToken());
        } catch (ArborException e) {
            if (e.kind() == ArborException.Kind.BAD_MODEL) {
                throw new ArborException(e.kind(), "pipeline '" + d.name() + "': its chat template ("
                        + template.source() + "): " + e.getMessage(), e);
            }
            throw e;
        } catch (RuntimeException | LinkageError e) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the chat template engine failed on"
                    + " pipeline '" + d.name() + "': " + e, e);
        }
        return Optional.of(new RenderedChat(text, encode(tokenizer, text, template), template.source()));
    }

    /**
     * Prompt ids of a rendered conversation: encoded without adding special tokens, the special-token strings
     * mapped to their ids by the tokenizer itself or, where it does not read them in text, by splitting.
     */
    static int[] encode(Tokenizer tokenizer, String text, Template template) {
        Map<String, Integer> specials = new LinkedHashMap<>();
        tokenizer.bosTokenId().ifPresent(id -> put(specials, template.bosToken(), id));
        tokenizer.eosTokenId().ifPresent(id -> put(specials, template.eosToken(), id));
        boolean native_ = true;
        for (Map.Entry<String, Integer> e : specials.entrySet()) {
            native_ &= text.contains(e.getKey()) ? Arrays.equals(tokenizer.encode(e.getKey(), false),
                    new int[] {e.getValue()}) : true;
        }
        if (native_ || specials.isEmpty()) {
            return tokenizer.encode(text, false);
        }
        List<Integer> ids = new ArrayList<>();
        int from = 0;
        while (from < text.length()) {
            int at = -1;
            String found = null;
            for (String s : specials.keySet()) {
                int i = text.indexOf(s, from);
                if (i >= 0 && (at < 0 || i < at || (i == at && s.length() > found.length()))) {
                    at = i;
                    found = s;
                }
            }
            int end = at < 0 ? text.length() : at;
            if (end > from) {
                for (int id : tokenizer.encode(text.substring(from, end), false)) {
                    ids.add(id);
                }
            }
            if (at < 0) {
                break;
            }
            ids.add(specials.get(found));
            from = at + found.length();
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    private static void put(Map<String, Integer> specials, String token, int id) {
        if (token != null && !token.isEmpty()) {
            specials.putIfAbsent(token, id);
        }
    }

    /** Parsed tokenizer_config.json files by path, with the modification time they were read at. */
    private static final java.util.concurrent.ConcurrentHashMap<Path, CachedConfig> CONFIGS =
            new java.util.concurrent.ConcurrentHashMap<>();

    private record CachedConfig(long modified, JsonNode json) {
    }

    /**
     * tokenizer_config.json next to the tokenizer file (or inside the tokenizer folder); null when absent. Parsed
     * once per modification (a chat request should not parse a 50 KB file each time).
     */
    static JsonNode readConfig(TokenizerRef ref) {
        Path path = Path.of(ref.path());
        Path file = Files.isDirectory(path) ? path.resolve(CONFIG_FILE) : path.resolveSibling(CONFIG_FILE);
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            // nanoseconds and size: a file rewritten within the same millisecond is still read again
            long modified = Files.getLastModifiedTime(file).to(java.util.concurrent.TimeUnit.NANOSECONDS) * 31
                    + Files.size(file);
            CachedConfig cached = CONFIGS.get(file);
            if (cached != null && cached.modified() == modified) {
                return cached.json();
            }
            JsonNode node = MAPPER.readTree(Files.readAllBytes(file));
            if (node == null || !node.isObject()) {
                throw ArborException.badModel(file + " is not a tokenizer_config.json: expected a JSON object", null);
            }
            CONFIGS.put(file, new CachedConfig(modified, node));
            return node;
        } catch (IOException e) {
            throw ArborException.badModel(file + " cannot be read as JSON: " + e.getMessage(), e);
        }
    }

    private static String specialToken(JsonNode config, String key, String fallback) {
        JsonNode v = config == null ? null : config.get(key);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (v.isTextual()) {
            return v.asText();
        }
        return v.path("content").isTextual() ? v.get("content").asText() : fallback;
    }

    private static String shorten(String s) {
        return s.length() > 40 ? s.substring(0, 37) + "..." : s;
    }
}
