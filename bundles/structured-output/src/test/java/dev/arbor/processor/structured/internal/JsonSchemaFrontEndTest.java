package dev.arbor.processor.structured.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SchemaValidatorsConfig;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import dev.arbor.api.ArborException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Random sentences of each schema's grammar parse as JSON (Jackson, strict) and validate against the schema
 * (networknt json-schema-validator, draft 2020-12, format assertions on).
 */
class JsonSchemaFrontEndTest {
    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    static List<String> schemas() {
        return List.of(
                """
                {"type": "object", "properties": {
                   "name": {"type": "string", "minLength": 1, "maxLength": 12},
                   "age": {"type": "integer", "minimum": 0, "maximum": 150},
                   "email": {"type": "string"},
                   "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 3}},
                 "required": ["name", "age"]}""",
                """
                {"type": "object", "properties": {
                   "kind": {"enum": ["a", "b\\"q", 3, null, true, {"k": [1]}]},
                   "v": {"anyOf": [{"type": "integer", "minimum": -5, "maximum": 17}, {"type": "boolean"}]},
                   "c": {"const": {"x": [1, 2.5, "é"]}},
                   "o": {"oneOf": [{"type": "null"}, {"type": "number"}]}},
                 "required": ["kind", "v", "c"], "additionalProperties": false}""",
                """
                {"$defs": {"node": {"type": "object", "properties": {
                    "value": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
                  "required": ["value"]}},
                 "$ref": "#/$defs/node"}""",
                """
                {"type": "object", "properties": {
                   "d": {"type": "string", "format": "date"},
                   "t": {"type": "string", "format": "date-time"},
                   "u": {"type": "string", "format": "uuid"},
                   "code": {"type": "string", "pattern": "^[A-Z]{2}-\\\\d{3}$"},
                   "free": {"type": "string", "pattern": "ab+"},
                   "esc": {"type": "string", "pattern": "^[\\"\\\\\\\\\\n]{1,3}$"}},
                 "required": ["d", "t", "u", "code", "free", "esc"]}""",
                """
                {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false,
                 "minItems": 1}""",
                """
                {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 4}""",
                """
                {"type": "object", "properties": {
                   "n": {"type": ["string", "null"]},
                   "pos": {"type": "number", "minimum": 0},
                   "r1": {"type": "integer", "exclusiveMinimum": 10, "exclusiveMaximum": 1000},
                   "r2": {"type": "integer", "minimum": -1000000, "maximum": -37},
                   "r3": {"type": "integer", "minimum": 123456789}},
                 "required": ["n", "pos", "r1", "r2", "r3"], "additionalProperties": true}""",
                """
                {"type": "object", "properties": {"id": {"type": "integer"}, "ab": {"type": "boolean"}},
                 "required": ["id"], "additionalProperties": {"type": "integer", "maximum": 9}}""",
                """
                {"title": "any", "description": "no constraint at all"}""",
                """
                {"type": "object", "properties": {
                   "p": {"type": "number", "minimum": 0, "maximum": 1},
                   "q": {"type": "number", "minimum": -3, "maximum": 12},
                   "r": {"type": "number", "minimum": -40, "maximum": -7},
                   "s": {"type": "number", "minimum": 5},
                   "t": {"type": "number", "maximum": -2},
                   "mail": {"type": "string", "format": "email"},
                   "ip": {"type": "string", "format": "ipv4"},
                   "host": {"type": "string", "format": "hostname"},
                   "time": {"type": "string", "format": "time"}},
                 "required": ["p", "q", "r", "s", "t", "mail", "ip", "host", "time"]}""",
                """
                {"definitions": {"leaf": {"type": "string", "maxLength": 3}},
                 "type": "object", "properties": {"l": {"$ref": "#/definitions/leaf"},
                   "all": {"allOf": [{"type": "boolean"}]}}}""");
    }

    @ParameterizedTest
    @MethodSource("schemas")
    void randomSentencesValidate(String schemaText) throws Exception {
        Recognizer recognizer = new Recognizer(JsonSchemaCompiler.compile(schemaText));
        JsonSchema schema = validator(schemaText);
        Random random = new Random(schemaText.hashCode());
        for (int i = 0; i < 300; i++) {
            byte[] bytes = Walks.sentence(recognizer, random, 160, 0.05);
            String text = new String(bytes, StandardCharsets.UTF_8);
            JsonNode node = MAPPER.readTree(text);
            Set<ValidationMessage> errors = schema.validate(node);
            assertThat(errors).as("%s", text).isEmpty();
        }
    }

    static JsonSchema validator(String schemaText) {
        SchemaValidatorsConfig config = SchemaValidatorsConfig.builder().formatAssertionsEnabled(true).build();
        return JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(schemaText, config);
    }

    @Test
    void requiredAndOptionalPropertiesKeepTheirOrderAndCommas() {
        Recognizer r = new Recognizer(JsonSchemaCompiler.compile("""
                {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"},
                 "c": {"type": "integer"}}, "required": ["b"]}"""));
        for (String ok : List.of("{\"b\":1}", "{\"a\":1,\"b\":2}", "{\"b\":2, \"c\":3}", "{\"a\": 1, \"b\": 2,\"c\":3}")) {
            assertThat(r.matches(ok.getBytes(StandardCharsets.UTF_8))).as(ok).isTrue();
        }
        for (String bad : List.of("{}", "{\"a\":1}", "{\"b\":1,}", "{,\"b\":1}", "{\"b\":2,\"a\":1}",
                "{\"b\":1,\"d\":2}", "{ \"b\":1}", "{\"b\":1}\n", "{\"b\":  1}")) {
            assertThat(r.matches(bad.getBytes(StandardCharsets.UTF_8))).as(bad).isFalse();
        }
    }

    @Test
    void integerRangesAreExact() {
        Random random = new Random(7);
        for (int t = 0; t < 200; t++) {
            long lo = random.nextInt(4001) - 2000;
            long hi = lo + random.nextInt(3000);
            String schema = "{\"type\": \"integer\", \"minimum\": " + lo + ", \"maximum\": " + hi + "}";
            Recognizer r = new Recognizer(JsonSchemaCompiler.compile(schema));
            for (long v = lo - 30; v <= hi + 30; v += 1 + random.nextInt(7)) {
                assertThat(r.matches(Long.toString(v).getBytes(StandardCharsets.UTF_8))).as("%d in [%d,%d]", v, lo, hi)
                        .isEqualTo(v >= lo && v <= hi);
            }
            assertThat(r.matches("-0".getBytes(StandardCharsets.UTF_8))).isFalse();
            assertThat(r.matches("007".getBytes(StandardCharsets.UTF_8))).isFalse();
        }
    }

    @Test
    void numberRangesAreExactForDecimals() {
        Random random = new Random(11);
        for (int t = 0; t < 100; t++) {
            long lo = random.nextInt(200) - 100;
            long hi = lo + random.nextInt(150);
            boolean hasLo = random.nextInt(4) != 0;
            boolean hasHi = !hasLo || random.nextInt(4) != 0;
            String schema = "{\"type\": \"number\"" + (hasLo ? ", \"minimum\": " + lo : "")
                    + (hasHi ? ", \"maximum\": " + hi : "") + "}";
            Recognizer r = new Recognizer(JsonSchemaCompiler.compile(schema));
            for (int k = 0; k < 300; k++) {
                long whole = lo - 20 + random.nextInt((int) (hi - lo) + 41);
                String frac = random.nextBoolean() ? "" : "." + (random.nextBoolean() ? "0".repeat(1 + random.nextInt(3))
                        : Integer.toString(random.nextInt(1000)));
                java.math.BigDecimal v = new java.math.BigDecimal(Math.abs(whole) + frac);
                if (whole < 0) {
                    v = v.negate();
                }
                String text = (whole < 0 ? "-" : "") + Math.abs(whole) + frac;
                boolean inRange = (!hasLo || v.compareTo(java.math.BigDecimal.valueOf(lo)) >= 0)
                        && (!hasHi || v.compareTo(java.math.BigDecimal.valueOf(hi)) <= 0);
                assertThat(r.matches(text.getBytes(StandardCharsets.UTF_8))).as("%s against %s", text, schema)
                        .isEqualTo(inRange);
            }
        }
    }

    @Test
    void unsupportedKeywordsAreRefusedWithTheirPath() {
        assertThatThrownBy(() -> JsonSchemaCompiler.compile(
                "{\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"number\", \"multipleOf\": 3}}}"))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("keyword 'multipleOf'").hasMessageContaining("#/properties/x");
        assertThatThrownBy(() -> JsonSchemaCompiler.compile("{\"allOf\": [{\"type\": \"string\"}, {\"maxLength\": 2}]}"))
                .hasMessageContaining("allOf");
        assertThatThrownBy(() -> JsonSchemaCompiler.compile("{\"$ref\": \"http://example.com/s.json\"}"))
                .hasMessageContaining("$ref 'http://example.com/s.json' is not supported");
        assertThatThrownBy(() -> JsonSchemaCompiler.compile("{\"$ref\": \"#/$defs/missing\"}"))
                .hasMessageContaining("points at nothing");
        assertThatThrownBy(() -> JsonSchemaCompiler.compile("{\"type\": \"number\", \"maximum\": 3.5}"))
                .hasMessageContaining("whole number");
        assertThatThrownBy(() -> JsonSchemaCompiler.compile("{\"type\": \"number\", \"exclusiveMinimum\": 0}"))
                .hasMessageContaining("exclusiveMinimum");
        assertThatThrownBy(() -> JsonSchemaCompiler.compile("{\"type\": \"array\", \"uniqueItems\": true}"))
                .hasMessageContaining("uniqueItems");
        assertThatThrownBy(() -> JsonSchemaCompiler.compile("{\"type\": \"string\", \"format\": \"iri\"}"))
                .hasMessageContaining("format \"iri\" is not supported");
        assertThatThrownBy(() -> JsonSchemaCompiler.compile("{\"type\": \"strin\"}"))
                .hasMessageContaining("unknown type 'strin'");
        assertThatThrownBy(() -> JsonSchemaCompiler.compile("{\"type\": \"object\""))
                .hasMessageContaining("not valid JSON");
        assertThatThrownBy(() -> JsonSchemaCompiler.compile(
                "{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\": {\"$ref\": \"#/$defs/a\"}}, \"$ref\": \"#/$defs/a\"}"))
                .hasMessageContaining("never ends");
    }
}
