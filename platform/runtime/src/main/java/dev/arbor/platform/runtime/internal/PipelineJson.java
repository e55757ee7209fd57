package dev.arbor.platform.runtime.internal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.pipeline.PartPolicy;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.TokenizerRef;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads and writes pipeline files ({@code etc/pipelines/NAME.json}). A part is either a name ({@code "top-p"}) or
 * an object {@code {"name": "top-p", "options": {...}}}; a processor entry may add {@code "fixed": true} (requests
 * can then neither remove, move nor re-option it). Strings may contain {@code ${variable}}, resolved from
 * framework properties, system properties and the environment when the pipeline is used, so a moved models
 * folder needs one property, not an edit of every file.
 */
public final class PipelineJson {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    /** A processor entry's flag: the operator fixes this part (see {@link PartPolicy#fixed()}). */
    static final String FIXED = "fixed";
    /** The tokenizer entry's chat template: a built-in's name or Jinja text. */
    static final String CHAT_TEMPLATE = "chat_template";
    /** A model's address when another process serves it (backend {@code remote}). */
    static final String URL = "url";
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{([A-Za-z0-9_.-]+)}");
    private static final Set<String> KNOWN_KEYS = Set.of("name", "description", "model", "tokenizer", "generator",
            "processors", "selector", "postprocessors", "defaults", "overrides");

    private PipelineJson() {
    }

    /**
     * Parses {@code json} (from {@code source}, named in errors); {@code fallbackName} is used when the file has no
     * "name"; {@code variables} resolves {@code ${...}} (returning null for unknown names).
     */
    public static PipelineDefinition parse(String json, String source, String fallbackName,
                                           UnaryOperator<String> variables) {
        return parse(json, source, fallbackName, variables, name -> java.util.Optional.empty());
    }

    /**
     * As {@link #parse(String, String, String, UnaryOperator)}; {@code registry} resolves a {@code "model"} given as
     * the name of a model of the installation's registry instead of an object.
     */
    public static PipelineDefinition parse(String json, String source, String fallbackName,
                                           UnaryOperator<String> variables,
                                           java.util.function.Function<String, java.util.Optional<ModelRef>> registry) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            // some errors (a parser limit such as the nesting depth) carry no location
            var at = e.getLocation();
            throw new ArborException(ArborException.Kind.INVALID_INPUT, "pipeline file " + source
                    + " is not valid JSON: " + e.getOriginalMessage() + (at == null ? ""
                    : " at line " + at.getLineNr() + ", column " + at.getColumnNr()));
        }
        if (root == null || !root.isObject()) {
            throw ArborException.invalid("pipeline file " + source + " must hold a JSON object");
        }
        for (Iterator<String> it = root.fieldNames(); it.hasNext();) {
            String key = it.next();
            if (!KNOWN_KEYS.contains(key)) {
                throw ArborException.invalid("pipeline file " + source + " has unknown key '" + key
                        + "'; known keys: " + String.join(", ", KNOWN_KEYS.stream().sorted().toList()));
            }
        }
        String name = text(root, "name", fallbackName);
        JsonNode model = required(root, "model", source);
        JsonNode tokenizer = required(root, "tokenizer", source);
        ModelRef modelRef = model.isTextual()
                ? registry.apply(model.asText()).orElseThrow(() -> ArborException.invalid("pipeline file " + source
                        + " names model '" + model.asText() + "', which the model registry (etc/models/NAME.json)"
                        + " does not declare"))
                : model.has(URL) ? urlModel(model, source + " model", variables)
                : new ModelRef(requiredText(model, "backend", source + " model"),
                requiredText(model, "format", source + " model"),
                substitute(requiredText(model, "path", source + " model"), source, variables),
                options(model.get("options"), source, variables));
        TokenizerRef tokenizerRef = new TokenizerRef(requiredText(tokenizer, "format", source + " tokenizer"),
                substitute(requiredText(tokenizer, "path", source + " tokenizer"), source, variables),
                options(tokenizer.get("options"), source, variables), chatTemplate(tokenizer, source));
        List<PartRef> processors = parts(root.get("processors"), source, variables);
        return new PipelineDefinition(name, text(root, "description", ""), modelRef, tokenizerRef,
                part(required(root, "generator", source), source, variables),
                processors,
                part(root.has("selector") ? root.get("selector") : MAPPER.getNodeFactory().textNode("sample"),
                        source, variables),
                parts(root.get("postprocessors"), source, variables),
                options(root.get("defaults"), source, variables),
                policy(root.get("overrides"), fixedProcessors(root.get("processors"), source), source));
    }

    /**
     * {@code "overrides": {"generators": [...], "processors": [...]}}: what a request may choose; {@code fixed}: the
     * processors marked {@code "fixed": true}, which a request cannot touch.
     */
    private static PartPolicy policy(JsonNode node, List<String> fixed, String source) {
        if (node == null || node.isNull()) {
            return new PartPolicy(List.of(), List.of(), fixed);
        }
        if (!node.isObject()) {
            throw ArborException.invalid(source + ": \"overrides\" must be an object with \"generators\" and"
                    + " \"processors\" lists");
        }
        return new PartPolicy(names(node.get("generators"), source), names(node.get("processors"), source), fixed);
    }

    /** Names of the processor entries marked {@code "fixed": true} (the operator's: no request may change them). */
    private static List<String> fixedProcessors(JsonNode processors, String source) {
        List<String> fixed = new ArrayList<>();
        if (processors == null || !processors.isArray()) {
            return fixed;
        }
        for (JsonNode entry : processors) {
            JsonNode flag = entry.isObject() ? entry.get(FIXED) : null;
            if (flag == null || flag.isNull()) {
                continue;
            }
            if (!flag.isBoolean()) {
                throw ArborException.invalid(source + ": \"" + FIXED + "\" of processor " + entry.get("name")
                        + " must be true or false, got " + flag);
            }
            String name = entry.get("name").asText();
            if (flag.booleanValue() && !fixed.contains(name)) {
                fixed.add(name);
            }
        }
        return fixed;
    }

    /**
     * The tokenizer entry's {@code "chat_template"}: a built-in template's name or Jinja text (not substituted:
     * <code>${...}</code> is not a variable there); null when absent.
     */
    private static String chatTemplate(JsonNode tokenizer, String source) {
        JsonNode node = tokenizer.get(CHAT_TEMPLATE);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isTextual() || node.asText().isBlank()) {
            throw ArborException.invalid(source + " tokenizer: \"" + CHAT_TEMPLATE + "\" must be the name of a"
                    + " built-in template (arbor-plain, chatml) or Jinja text, got " + node);
        }
        return node.asText();
    }

    private static List<String> names(JsonNode node, String source) {
        if (node == null || node.isNull()) {
            return List.of();
        }
        if (!node.isArray()) {
            throw ArborException.invalid(source + ": override lists must be arrays of part names, got " + node);
        }
        List<String> out = new ArrayList<>();
        node.forEach(n -> out.add(n.asText()));
        return out;
    }

    /** The JSON form of {@code definition} (paths as given, variables already resolved). */
    public static String write(PipelineDefinition definition) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("name", definition.name());
        root.put("description", definition.description());
        ObjectNode model = root.putObject("model");
        model.put("backend", definition.model().backend());
        model.put("format", definition.model().format());
        model.put("path", definition.model().path());
        model.set("options", MAPPER.valueToTree(definition.model().options().asMap()));
        ObjectNode tokenizer = root.putObject("tokenizer");
        tokenizer.put("format", definition.tokenizer().format());
        tokenizer.put("path", definition.tokenizer().path());
        tokenizer.set("options", MAPPER.valueToTree(definition.tokenizer().options().asMap()));
        if (definition.tokenizer().chatTemplate() != null) {
            tokenizer.put(CHAT_TEMPLATE, definition.tokenizer().chatTemplate());
        }
        root.set("generator", partNode(definition.generator()));
        ArrayNode processors = root.putArray("processors");
        for (PartRef p : definition.processors()) {
            ObjectNode node = partNode(p);
            if (definition.overrides().fixed().contains(p.name())) {
                node.put(FIXED, true);
            }
            processors.add(node);
        }
        root.set("selector", partNode(definition.selector()));
        ArrayNode post = root.putArray("postprocessors");
        definition.postProcessors().forEach(p -> post.add(partNode(p)));
        root.set("defaults", MAPPER.valueToTree(definition.defaults().asMap()));
        ObjectNode overrides = root.putObject("overrides");
        overrides.set("generators", MAPPER.valueToTree(definition.overrides().generators()));
        overrides.set("processors", MAPPER.valueToTree(definition.overrides().processors()));
        try {
            return MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise pipeline " + definition.name(), e);
        }
    }

    /** Parses a part given on the command line or in a request: a name, or a JSON object. */
    public static PartRef parsePart(String text) {
        String trimmed = text.trim();
        if (!trimmed.startsWith("{")) {
            return PartRef.of(trimmed);
        }
        try {
            return part(MAPPER.readTree(trimmed), "part " + trimmed, n -> null);
        } catch (JsonProcessingException e) {
            throw ArborException.invalid("part '" + text + "' is not a name or a JSON object: "
                    + e.getOriginalMessage());
        }
    }

    private static ObjectNode partNode(PartRef part) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("name", part.name());
        node.set("options", MAPPER.valueToTree(part.options().asMap()));
        return node;
    }

    private static PartRef part(JsonNode node, String source, UnaryOperator<String> variables) {
        if (node.isTextual()) {
            return PartRef.of(node.asText());
        }
        if (node.isObject() && node.hasNonNull("name")) {
            return new PartRef(node.get("name").asText(), options(node.get("options"), source, variables));
        }
        throw ArborException.invalid(source + ": a part must be a name or an object with \"name\", got " + node);
    }

    private static List<PartRef> parts(JsonNode node, String source, UnaryOperator<String> variables) {
        if (node == null || node.isNull()) {
            return List.of();
        }
        if (!node.isArray()) {
            throw ArborException.invalid(source + ": processors and postprocessors must be arrays, got " + node);
        }
        List<PartRef> out = new ArrayList<>();
        node.forEach(n -> out.add(part(n, source, variables)));
        return out;
    }

    /** A model reference object {@code {"backend", "format", "path", "options"}} (a registry entry's body). */
    static ModelRef modelRef(String json, String source, UnaryOperator<String> variables) {
        JsonNode model;
        try {
            model = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw ArborException.invalid(source + " is not valid JSON: " + e.getOriginalMessage());
        }
        if (model == null || !model.isObject()) {
            throw ArborException.invalid(source + " must hold a JSON object {\"backend\", \"format\", \"path\", "
                    + "\"options\"}");
        }
        for (Iterator<String> it = model.fieldNames(); it.hasNext();) {
            String key = it.next();
            if (!Set.of("backend", "format", "path", "options", "description", URL).contains(key)) {
                throw ArborException.invalid(source + " has unknown key '" + key + "'; known keys: backend, "
                        + "description, format, options, path, url");
            }
        }
        if (model.has(URL)) {
            return urlModel(model, source, variables);
        }
        return new ModelRef(requiredText(model, "backend", source), requiredText(model, "format", source),
                substitute(requiredText(model, "path", source), source, variables),
                options(model.get("options"), source, variables));
    }

    /**
     * A model served by another process: {@code {"backend": "remote", "url": "grpc://HOST:PORT/MODEL"}} (format
     * {@code oip} unless given). The URL is the model's location ({@link ModelRef#path()}, for listings and cache
     * keys) and its backend's {@code url} option; only an operator's file can hold one.
     */
    private static ModelRef urlModel(JsonNode model, String source, UnaryOperator<String> variables) {
        if (model.has("path")) {
            throw ArborException.invalid(source + " gives both \"path\" and \"" + URL + "\"; a model is a file"
                    + " (path) or a model served by another process (url, with backend \"remote\")");
        }
        String url = substitute(requiredText(model, URL, source), source, variables);
        Map<String, Object> options = new LinkedHashMap<>(options(model.get("options"), source, variables).asMap());
        options.put(URL, url);
        return new ModelRef(requiredText(model, "backend", source), text(model, "format", "oip"), url,
                Options.of(options));
    }

    private static Options options(JsonNode node, String source, UnaryOperator<String> variables) {
        if (node == null || node.isNull()) {
            return Options.empty();
        }
        if (!node.isObject()) {
            throw ArborException.invalid(source + ": options must be a JSON object, got " + node);
        }
        Map<String, Object> map = new LinkedHashMap<>();
        node.fields().forEachRemaining(e -> map.put(e.getKey(), value(e.getValue(), source, variables)));
        return Options.of(map);
    }

    /** A plain Java value (String, Number, Boolean, List, Map) with variables resolved at every depth. */
    private static Object value(JsonNode node, String source, UnaryOperator<String> variables) {
        if (node.isTextual()) {
            return substitute(node.asText(), source, variables);
        }
        if (node.isObject()) {
            Map<String, Object> map = new LinkedHashMap<>();
            node.fields().forEachRemaining(e -> map.put(e.getKey(), value(e.getValue(), source, variables)));
            return map;
        }
        if (node.isArray()) {
            List<Object> list = new ArrayList<>();
            node.forEach(n -> list.add(value(n, source, variables)));
            return list;
        }
        return MAPPER.convertValue(node, Object.class);
    }

    private static String substitute(String text, String source, UnaryOperator<String> variables) {
        Matcher m = VARIABLE.matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String value = variables.apply(m.group(1));
            if (value == null) {
                throw ArborException.invalid(source + " uses ${" + m.group(1) + "}, which is not set; set it as a"
                        + " system property (-D" + m.group(1) + "=...) or environment variable");
            }
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }

    private static JsonNode required(JsonNode root, String key, String source) {
        JsonNode node = root.get(key);
        if (node == null || node.isNull()) {
            throw ArborException.invalid("pipeline file " + source + " has no \"" + key + "\"");
        }
        return node;
    }

    private static String requiredText(JsonNode node, String key, String where) {
        JsonNode v = node.get(key);
        if (v == null || !v.isTextual() || v.asText().isBlank()) {
            throw ArborException.invalid(where + " needs a \"" + key + "\" string");
        }
        return v.asText();
    }

    private static String text(JsonNode node, String key, String fallback) {
        JsonNode v = node.get(key);
        return v == null || v.isNull() ? fallback : v.asText();
    }

    /** Variables from the environment: {@code arbor.models} also reads {@code ARBOR_MODELS}. */
    public static String environmentName(String variable) {
        return variable.toUpperCase(java.util.Locale.ROOT).replace('.', '_').replace('-', '_');
    }
}
