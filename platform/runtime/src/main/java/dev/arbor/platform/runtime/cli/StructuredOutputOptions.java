package dev.arbor.platform.runtime.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@code generate}'s structured-output flags, at most one of them (a picocli exclusive group): {@code --json-schema
 * FILE} (a JSON Schema the output must validate against), {@code --regex TEXT} (a regular expression the whole
 * output must match), {@code --grammar FILE} (a GBNF grammar whose start rule is {@code root}). The CLI is local, so
 * it reads the operator's files ('-' for standard input). The constraint becomes logits processor
 * {@value #PROCESSOR} placed first in the request's chain, ahead of the pipeline's own processors (named back so
 * the platform runs them as the pipeline does, fixed parts included).
 */
final class StructuredOutputOptions {
    static final String PROCESSOR = "structured-output";
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--json-schema", paramLabel = "FILE", required = true,
            description = "Constrain the output to JSON valid against the JSON Schema in FILE ('-': standard input).")
    Path jsonSchema;
    @Option(names = "--regex", paramLabel = "TEXT", required = true,
            description = "Constrain the output to match the regular expression TEXT as a whole.")
    String regex;
    @Option(names = "--grammar", paramLabel = "FILE", required = true,
            description = "Constrain the output to the GBNF grammar in FILE (start rule 'root'; '-': standard input).")
    Path grammar;

    /** The processor option and value of the flag given: {@code json_schema}, {@code regex} or {@code grammar}. */
    Map.Entry<String, String> constraint(InputStream stdin) {
        if (jsonSchema != null) {
            String text = CliFiles.readText(jsonSchema, "JSON schema", stdin);
            JsonNode schema;
            try {
                schema = JSON.readTree(text);
            } catch (JsonProcessingException e) {
                throw ArborException.invalid("the JSON schema file " + jsonSchema + " is not JSON: "
                        + e.getOriginalMessage());
            }
            if (schema == null || !schema.isObject()) {
                throw ArborException.invalid("the JSON schema file " + jsonSchema + " must hold a JSON object (a JSON"
                        + " Schema such as {\"type\": \"object\", \"properties\": {...}})");
            }
            return Map.entry("json_schema", schema.toString());
        }
        if (regex != null) {
            if (regex.isEmpty()) {
                throw ArborException.invalid("--regex needs a non-empty regular expression");
            }
            return Map.entry("regex", regex);
        }
        String text = CliFiles.readText(grammar, "grammar", stdin);
        if (text.isBlank()) {
            throw ArborException.invalid("the grammar file " + grammar + " is empty; give a GBNF grammar with a"
                    + " 'root' rule");
        }
        return Map.entry("grammar", text);
    }

    /**
     * The request's processor chain on pipeline {@code d}: {@value #PROCESSOR} with the constraint (and
     * {@code max_tokens} when given; the platform lowers it to the generator's real budget), then the pipeline's
     * processors by name.
     */
    List<PartRef> chain(PipelineDefinition d, Integer maxTokens, InputStream stdin) {
        Map.Entry<String, String> constraint = constraint(stdin);
        Map<String, Object> options = new LinkedHashMap<>();
        options.put(constraint.getKey(), constraint.getValue());
        if (maxTokens != null) {
            options.put("max_tokens", maxTokens);
        }
        List<PartRef> chain = new ArrayList<>();
        chain.add(new PartRef(PROCESSOR, Options.of(options)));
        if (d != null) {
            for (PartRef p : d.processors()) {
                if (p.name().equals(PROCESSOR)) {
                    throw ArborException.invalid("pipeline '" + d.name() + "' already constrains its output with"
                            + " logits processor '" + PROCESSOR + "'; drop --json-schema/--regex/--grammar or use"
                            + " another pipeline");
                }
                chain.add(PartRef.of(p.name()));
            }
        }
        return chain;
    }
}
