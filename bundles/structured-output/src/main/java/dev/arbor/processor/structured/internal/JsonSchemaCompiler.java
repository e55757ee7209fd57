package dev.arbor.processor.structured.internal;

import static dev.arbor.processor.structured.internal.Expr.alt;
import static dev.arbor.processor.structured.internal.Expr.literal;
import static dev.arbor.processor.structured.internal.Expr.opt;
import static dev.arbor.processor.structured.internal.Expr.ref;
import static dev.arbor.processor.structured.internal.Expr.seq;
import static dev.arbor.processor.structured.internal.Expr.star;

import dev.arbor.api.ArborException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Translates a JSON Schema into {@link Expr} rules over JSON text (with {@link JsonRules}' whitespace policy), in the
 * manner of llama.cpp's {@code json-schema-to-grammar} and outlines' {@code build_regex_from_schema}: every output
 * is a JSON value the schema validates, and every keyword is either honoured or refused with its path.
 *
 * <p>Supported: {@code type} (also arrays of types), {@code enum}, {@code const}, {@code anyOf} and {@code oneOf}
 * (as alternatives; oneOf's exclusivity is not enforced, so branches that overlap may produce a value two branches
 * accept), {@code allOf} of one schema, {@code $ref} to any JSON pointer in the document ({@code #},
 * {@code #/$defs/x}, {@code #/definitions/x}; recursion allowed), objects ({@code properties} in declared order,
 * those in {@code required} mandatory and the others optional; {@code additionalProperties}: absent or false means
 * no other keys, true or a schema allows further keys after the declared ones, written without escapes and never equal
 * to a declared name), arrays ({@code items}, {@code prefixItems}, {@code minItems}, {@code maxItems}), strings
 * ({@code minLength}, {@code maxLength}, {@code pattern} (a regular expression; unanchored sides match anything),
 * {@code format} date, time, date-time, uuid, ipv4, hostname and email, each as a regular subset of the format),
 * integers ({@code minimum}, {@code maximum},
 * {@code exclusiveMinimum}, {@code exclusiveMaximum} as digit ranges), numbers (whole-number {@code minimum} and
 * {@code maximum}, written without exponent; exclusive bounds refused),
 * booleans, null. Annotations (title, description, default, examples, ...) are ignored. Without {@code type}, the
 * type is inferred from the keywords present (properties: object, items: array, ...), else any JSON value.
 */
final class JsonSchemaCompiler {
    private static final String WHAT = "json_schema";
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "$schema", "$id", "$comment",
            "default", "examples", "deprecated", "readOnly", "writeOnly", "$defs", "definitions");
    private static final Set<String> OBJECT = Set.of("properties", "required", "additionalProperties");
    private static final Set<String> ARRAY = Set.of("items", "prefixItems", "minItems", "maxItems", "uniqueItems");
    private static final Set<String> STRING = Set.of("minLength", "maxLength", "pattern", "format");
    private static final Set<String> NUMBER = Set.of("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum");
    private static final Set<String> OTHER = Set.of("type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref");
    private static final String OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    /**
     * Host names the validators accept everywhere: lower-case labels without edge hyphens, ending in a common
     * top-level domain (validators that check top-level domains against IANA's list accept these).
     */
    private static final String DOMAIN = "(?:[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?\\.){1,3}(?:com|org|net|io|dev)";
    private static final Map<String, String> FORMATS = Map.of(
            "date", date(),
            "time", time(),
            "date-time", date() + "T" + time(),
            "uuid", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "ipv4", "(?:" + OCTET + "\\.){3}" + OCTET,
            "hostname", DOMAIN,
            "email", "[A-Za-z0-9_%+-]{1,20}(?:\\.[A-Za-z0-9_%+-]{1,20}){0,2}@" + DOMAIN);

    private final Object document;
    private final LinkedHashMap<String, Expr> rules = new LinkedHashMap<>();
    private final Map<String, String> refRules = new HashMap<>();
    private int counter;

    private JsonSchemaCompiler(Object document) {
        this.document = document;
    }

    static Grammar compile(String schemaText) {
        Object document = Json.parse(schemaText, WHAT);
        JsonSchemaCompiler c = new JsonSchemaCompiler(document);
        c.rules.put("root", Expr.EMPTY);
        c.refRules.put("#", "root");
        c.rules.put("root", c.schema(document, "#"));
        JsonRules.addTo(c.rules);
        return GrammarCompiler.compile(WHAT, c.rules, "root");
    }

    private static String date() {
        // month-specific day ranges; 29 February is left out (valid in leap years only)
        return "[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
                + "|02-(?:0[1-9]|1[0-9]|2[0-8]))";
    }

    /** RFC 3339 time; offsets stay below 18 hours, the range java.time (and so common validators) accept. */
    private static String time() {
        return "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?(?:Z|[+-](?:0[0-9]|1[0-7]):[0-5][0-9])";
    }

    private Expr schema(Object node, String path) {
        if (node instanceof Boolean b) {
            if (!b) {
                throw error(path, "the schema false allows no value");
            }
            return ref(JsonRules.VALUE);
        }
        if (!(node instanceof Map<?, ?> raw)) {
            throw error(path, "a schema must be a JSON object or a boolean");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> s = (Map<String, Object>) raw;
        Set<String> keywords = new LinkedHashSet<>();
        for (String key : s.keySet()) {
            if (ANNOTATIONS.contains(key)) {
                continue;
            }
            if (!(OBJECT.contains(key) || ARRAY.contains(key) || STRING.contains(key) || NUMBER.contains(key)
                    || OTHER.contains(key))) {
                throw error(path, "keyword '" + key + "' is not supported (supported: type, enum, const, anyOf,"
                        + " oneOf, allOf, $ref, properties, required, additionalProperties, items, prefixItems,"
                        + " minItems, maxItems, minLength, maxLength, pattern, format, minimum, maximum,"
                        + " exclusiveMinimum, exclusiveMaximum)");
            }
            keywords.add(key);
        }
        for (String combinator : List.of("$ref", "anyOf", "oneOf", "allOf", "const", "enum")) {
            if (keywords.contains(combinator)) {
                Set<String> others = new LinkedHashSet<>(keywords);
                others.remove(combinator);
                if (combinator.equals("const") || combinator.equals("enum")) {
                    others.remove("type"); // a type next to enum/const only restates it
                }
                if (!others.isEmpty()) {
                    throw error(path, "'" + combinator + "' next to " + others + " is not supported; move those"
                            + " keywords into the referenced or listed schemas");
                }
                return combinator(combinator, s.get(combinator), path);
            }
        }
        List<String> types = types(s, keywords, path);
        if (types == null) {
            return ref(JsonRules.VALUE);
        }
        List<Expr> choices = new ArrayList<>();
        for (String type : types) {
            choices.add(typed(type, s, path));
        }
        return choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices));
    }

    private Expr combinator(String keyword, Object value, String path) {
        switch (keyword) {
            case "$ref" -> {
                if (!(value instanceof String pointer)) {
                    throw error(path, "$ref must be a string");
                }
                return reference(pointer, path);
            }
            case "const" -> {
                return literal(Json.write(value));
            }
            case "enum" -> {
                if (!(value instanceof List<?> values) || values.isEmpty()) {
                    throw error(path + "/enum", "enum must be a non-empty array");
                }
                List<Expr> choices = new ArrayList<>();
                for (Object v : values) {
                    choices.add(literal(Json.write(v)));
                }
                return choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices));
            }
            default -> {
                if (!(value instanceof List<?> list) || list.isEmpty()) {
                    throw error(path + "/" + keyword, keyword + " must be a non-empty array of schemas");
                }
                if (keyword.equals("allOf") && list.size() != 1) {
                    throw error(path + "/allOf", "allOf is supported with one schema only (an intersection of"
                            + " several cannot be written as a grammar in general); merge them into one");
                }
                List<Expr> choices = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) {
                    choices.add(schema(list.get(i), path + "/" + keyword + "/" + i));
                }
                return choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices));
            }
        }
    }

    private Expr reference(String pointer, String path) {
        String rule = refRules.get(pointer);
        if (rule != null) {
            return new Expr.Ref(rule, "$ref " + pointer + " at " + path);
        }
        if (!pointer.startsWith("#/")) {
            throw error(path, "$ref '" + pointer + "' is not supported: only references inside the schema"
                    + " (#, #/$defs/name, #/definitions/name, or any #/json/pointer)");
        }
        Object target = document;
        for (String part : pointer.substring(2).split("/", -1)) {
            String key = part.replace("~1", "/").replace("~0", "~");
            if (target instanceof Map<?, ?> map && map.containsKey(key)) {
                target = map.get(key);
            } else if (target instanceof List<?> list && key.matches("\\d+") && Integer.parseInt(key) < list.size()) {
                target = list.get(Integer.parseInt(key));
            } else {
                throw error(path, "$ref '" + pointer + "' points at nothing in the schema");
            }
        }
        rule = "ref-" + (++counter) + "-" + pointer.replaceAll("[^A-Za-z0-9_-]", "-");
        refRules.put(pointer, rule);
        rules.put(rule, Expr.EMPTY); // declared before its body, so recursion through $ref finds it
        rules.put(rule, schema(target, pointer));
        return new Expr.Ref(rule, "$ref " + pointer + " at " + path);
    }

    private List<String> types(Map<String, Object> s, Set<String> keywords, String path) {
        Object type = s.get("type");
        if (type == null) {
            for (String k : keywords) {
                if (OBJECT.contains(k)) {
                    return List.of("object");
                }
                if (ARRAY.contains(k)) {
                    return List.of("array");
                }
                if (STRING.contains(k)) {
                    return List.of("string");
                }
                if (NUMBER.contains(k)) {
                    return List.of("number");
                }
            }
            return null;
        }
        List<String> out = new ArrayList<>();
        if (type instanceof String t) {
            out.add(t);
        } else if (type instanceof List<?> list && !list.isEmpty()) {
            for (Object t : list) {
                if (!(t instanceof String name)) {
                    throw error(path + "/type", "type must be a string or an array of strings");
                }
                out.add(name);
            }
        } else {
            throw error(path + "/type", "type must be a string or a non-empty array of strings");
        }
        for (String t : out) {
            if (!Set.of("null", "boolean", "object", "array", "number", "integer", "string").contains(t)) {
                throw error(path + "/type", "unknown type '" + t + "'");
            }
        }
        return out;
    }

    private Expr typed(String type, Map<String, Object> s, String path) {
        return switch (type) {
            case "null" -> literal("null");
            case "boolean" -> alt(literal("true"), literal("false"));
            case "string" -> string(s, path);
            case "integer" -> integer(s, path);
            case "number" -> number(s, path);
            case "object" -> object(s, path);
            default -> array(s, path);
        };
    }

    // ------------------------------------------------------------------------------------------------ strings

    private Expr string(Map<String, Object> s, String path) {
        Expr quote = literal("\"");
        int min = count(s, "minLength", path, 0);
        int max = count(s, "maxLength", path, -1);
        if (max >= 0 && max < min) {
            throw error(path, "maxLength " + max + " is below minLength " + min);
        }
        boolean lengths = s.containsKey("minLength") || s.containsKey("maxLength");
        if (s.containsKey("format")) {
            if (!(s.get("format") instanceof String format) || !FORMATS.containsKey(format)) {
                throw error(path + "/format", "format " + Json.write(s.get("format")) + " is not supported"
                        + " (supported: " + new TreeMap<>(FORMATS).keySet() + ")");
            }
            if (lengths || s.containsKey("pattern")) {
                throw error(path, "format together with minLength/maxLength/pattern is not supported");
            }
            return seq(quote, RegexParser.parse(FORMATS.get(format)), quote);
        }
        if (s.containsKey("pattern")) {
            if (!(s.get("pattern") instanceof String pattern)) {
                throw error(path + "/pattern", "pattern must be a string");
            }
            if (lengths) {
                throw error(path, "pattern together with minLength/maxLength is not supported (a grammar cannot"
                        + " intersect them); put the length into the pattern, e.g. ^[a-z]{3,8}$");
            }
            return seq(quote, pattern(pattern, path + "/pattern"), quote);
        }
        return seq(quote, new Expr.Repeat(ref(JsonRules.CHAR), min, max), quote);
    }

    /** A JSON Schema pattern (a search, so unanchored sides match anything) as JSON string content. */
    private Expr pattern(String pattern, String path) {
        boolean start = pattern.startsWith("^");
        int trailingBackslashes = 0;
        for (int i = pattern.length() - 2; i >= 0 && pattern.charAt(i) == '\\'; i--) {
            trailingBackslashes++;
        }
        boolean end = pattern.endsWith("$") && trailingBackslashes % 2 == 0 && pattern.length() > (start ? 1 : 0);
        Expr body;
        try {
            body = RegexParser.parse(pattern, JsonSchemaCompiler::jsonChars);
        } catch (ArborException e) {
            throw error(path, e.getMessage());
        }
        Expr any = star(ref(JsonRules.CHAR));
        return seq(start ? Expr.EMPTY : any, body, end ? Expr.EMPTY : any);
    }

    /** Characters as JSON string content: the ones JSON must escape as their escape. */
    static Expr jsonChars(Utf8Ranges set) {
        List<Expr> choices = new ArrayList<>();
        Expr plain = set.intersect(JsonRules.unescaped()).toExpr();
        if (plain != null) {
            choices.add(plain);
        }
        for (int c = 0; c < 0x20; c++) {
            if (set.contains(c)) {
                StringBuilder sb = new StringBuilder();
                Json.quote(String.valueOf((char) c), sb);
                choices.add(literal(sb.substring(1, sb.length() - 1)));
            }
        }
        if (set.contains('"')) {
            choices.add(literal("\\\""));
        }
        if (set.contains('\\')) {
            choices.add(literal("\\\\"));
        }
        return choices.isEmpty() ? null : choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices));
    }

    // ------------------------------------------------------------------------------------------------ numbers

    private Expr integer(Map<String, Object> s, String path) {
        Long lo = bound(s, "minimum", path, true, false);
        Long exLo = bound(s, "exclusiveMinimum", path, true, true);
        Long hi = bound(s, "maximum", path, false, false);
        Long exHi = bound(s, "exclusiveMaximum", path, false, true);
        long min = Math.max(lo == null ? Long.MIN_VALUE : lo, exLo == null ? Long.MIN_VALUE : exLo);
        long max = Math.min(hi == null ? Long.MAX_VALUE : hi, exHi == null ? Long.MAX_VALUE : exHi);
        if (min == Long.MIN_VALUE && max == Long.MAX_VALUE) {
            return ref(JsonRules.INTEGER);
        }
        if (min > max) {
            throw error(path, "no integer lies between the minimum and the maximum");
        }
        return IntegerRanges.range(min, max);
    }

    /** An integer bound (rounded inward); exclusive ones moved by one. */
    private Long bound(Map<String, Object> s, String key, String path, boolean lower, boolean exclusive) {
        Object v = s.get(key);
        if (v == null) {
            return null;
        }
        if (v instanceof Boolean) {
            throw error(path + "/" + key, key + " as a boolean (draft 4) is not supported; give the bound as a"
                    + " number");
        }
        BigDecimal d = decimal(v, path + "/" + key);
        BigDecimal rounded = d.setScale(0, lower ? RoundingMode.CEILING : RoundingMode.FLOOR);
        if (exclusive && rounded.compareTo(d) == 0) {
            rounded = lower ? rounded.add(BigDecimal.ONE) : rounded.subtract(BigDecimal.ONE);
        }
        BigDecimal limit = BigDecimal.valueOf(IntegerRanges.LIMIT);
        if (rounded.abs().compareTo(limit) > 0) {
            throw error(path + "/" + key, key + " beyond ±" + IntegerRanges.LIMIT + " is not supported");
        }
        return rounded.longValueExact();
    }

    /**
     * A number; with bounds, only whole-number {@code minimum}/{@code maximum} (inclusive) are supported, as decimal
     * numbers without exponent: integer parts by digit ranges, the bound itself only with a zero fraction.
     */
    private Expr number(Map<String, Object> s, String path) {
        Set<String> bounds = new LinkedHashSet<>(s.keySet());
        bounds.retainAll(NUMBER);
        if (bounds.isEmpty()) {
            return ref(JsonRules.NUMBER);
        }
        if (bounds.contains("exclusiveMinimum") || bounds.contains("exclusiveMaximum")) {
            throw error(path, "exclusiveMinimum/exclusiveMaximum on type number are not supported; use minimum and"
                    + " maximum, or type integer");
        }
        long lo = Long.MIN_VALUE;
        long hi = Long.MAX_VALUE;
        for (String key : bounds) {
            BigDecimal d = decimal(s.get(key), path + "/" + key);
            if (d.stripTrailingZeros().scale() > 0 || d.abs().compareTo(BigDecimal.valueOf(IntegerRanges.LIMIT)) > 0) {
                throw error(path + "/" + key, key + " on type number is supported only as a whole number within"
                        + " ±" + IntegerRanges.LIMIT + ", got " + d);
            }
            if (key.equals("minimum")) {
                lo = d.longValueExact();
            } else {
                hi = d.longValueExact();
            }
        }
        if (lo > hi) {
            throw error(path, "minimum " + lo + " is above maximum " + hi);
        }
        List<Expr> choices = new ArrayList<>();
        if (hi >= 0) {
            choices.add(nonNegative(Math.max(lo, 0), hi));
        }
        if (lo < 0) {
            // -m with m in [max(-hi, 0), -lo]
            choices.add(seq(literal("-"), nonNegative(hi < 0 ? -hi : 0, lo == Long.MIN_VALUE ? Long.MAX_VALUE : -lo)));
        }
        return choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices));
    }

    /** Decimal numbers in [a, b] (b Long.MAX_VALUE: unbounded), 0 <= a <= b, without sign or exponent. */
    private static Expr nonNegative(long a, long b) {
        Expr digits = new Expr.Repeat(JsonRules.digits(), 1, -1);
        Expr fraction = opt(seq(literal("."), digits));
        if (b == Long.MAX_VALUE) {
            return seq(IntegerRanges.natural(a, -1), fraction);
        }
        Expr atBound = seq(literal(Long.toString(b)), opt(seq(literal("."), new Expr.Repeat(literal("0"), 1, -1))));
        if (a == b) {
            return atBound;
        }
        return alt(seq(IntegerRanges.natural(a, b - 1), fraction), atBound);
    }

    private BigDecimal decimal(Object v, String path) {
        if (v instanceof BigDecimal d) {
            return d;
        }
        if (v instanceof Number n) {
            return new BigDecimal(n.toString());
        }
        throw error(path, "must be a number");
    }

    private int count(Map<String, Object> s, String key, String path, int fallback) {
        Object v = s.get(key);
        if (v == null) {
            return fallback;
        }
        BigDecimal d = decimal(v, path + "/" + key);
        if (d.signum() < 0 || d.stripTrailingZeros().scale() > 0 || d.compareTo(BigDecimal.valueOf(100_000)) > 0) {
            throw error(path + "/" + key, key + " must be an integer in [0, 100000], got " + d);
        }
        return d.intValue();
    }

    // ------------------------------------------------------------------------------------------------ objects

    private Expr object(Map<String, Object> s, String path) {
        Map<String, Object> properties = new LinkedHashMap<>();
        if (s.get("properties") instanceof Map<?, ?> props) {
            props.forEach((k, v) -> properties.put((String) k, v));
        } else if (s.containsKey("properties")) {
            throw error(path + "/properties", "properties must be an object");
        }
        Set<String> required = new LinkedHashSet<>();
        if (s.get("required") instanceof List<?> list) {
            for (Object r : list) {
                if (!(r instanceof String name)) {
                    throw error(path + "/required", "required must be an array of strings");
                }
                required.add(name);
            }
        } else if (s.containsKey("required")) {
            throw error(path + "/required", "required must be an array of strings");
        }
        for (String name : required) {
            properties.putIfAbsent(name, Boolean.TRUE);
        }
        Object additional = s.getOrDefault("additionalProperties", Boolean.FALSE);
        Expr extra = null;
        if (!(additional instanceof Boolean b && !b)) {
            Expr value = additional instanceof Boolean ? ref(JsonRules.VALUE)
                    : ref(named("extra", schema(additional, path + "/additionalProperties")));
            extra = seq(keyNotIn(properties.keySet()), literal(":"), ref(JsonRules.WS), value);
        }
        List<String> names = new ArrayList<>(properties.keySet());
        int n = names.size();
        String base = "obj-" + (++counter);
        // first-i: members i.. when none was written yet; rest-i: members i.. after one was written
        String[] first = new String[n + 1];
        String[] rest = new String[n + 1];
        for (int i = 0; i <= n; i++) {
            first[i] = base + "-first-" + i;
            rest[i] = base + "-rest-" + i;
        }
        Expr comma = seq(literal(","), ref(JsonRules.WS));
        if (extra != null) {
            Expr extraRule = ref(named("extra-member", extra));
            rules.put(rest[n], star(seq(comma, extraRule)));
            rules.put(first[n], opt(seq(extraRule, ref(rest[n]))));
        } else {
            rules.put(rest[n], Expr.EMPTY);
            rules.put(first[n], Expr.EMPTY);
        }
        for (int i = n - 1; i >= 0; i--) {
            String name = names.get(i);
            StringBuilder key = new StringBuilder();
            Json.quote(name, key);
            Expr member = seq(literal(key.toString()), literal(":"), ref(JsonRules.WS),
                    schema(properties.get(name), path + "/properties/" + name));
            String memberRule = named("member", member);
            Expr withRest = seq(ref(memberRule), ref(rest[i + 1]));
            if (required.contains(name)) {
                rules.put(first[i], withRest);
                rules.put(rest[i], seq(comma, withRest));
            } else {
                rules.put(first[i], alt(withRest, ref(first[i + 1])));
                rules.put(rest[i], seq(opt(seq(comma, ref(memberRule))), ref(rest[i + 1])));
            }
        }
        return seq(literal("{"), ref(first[0]), literal("}"));
    }

    private String named(String what, Expr body) {
        String name = what + "-" + (++counter);
        rules.put(name, body);
        return name;
    }

    /**
     * A JSON string key, written without escapes, that is none of {@code names}: a trie of the names where each
     * node may stop (if no name ends there), follow a child, or leave the trie with any other character.
     */
    private Expr keyNotIn(Set<String> names) {
        Utf8Ranges plain = JsonRules.unescaped();
        Expr anyChar = plain.toExpr();
        TrieNode root = new TrieNode();
        for (String name : names) {
            if (name.codePoints().allMatch(plain::contains)) {
                TrieNode node = root;
                for (int cp : name.codePoints().toArray()) {
                    node = node.children.computeIfAbsent(cp, k -> new TrieNode());
                }
                node.end = true;
            }
        }
        String rule = keyRule(root, plain, anyChar);
        return seq(literal("\""), ref(rule), literal("\""));
    }

    private static final class TrieNode {
        final TreeMap<Integer, TrieNode> children = new TreeMap<>();
        boolean end;
    }

    private String keyRule(TrieNode node, Utf8Ranges plain, Expr anyChar) {
        List<Expr> choices = new ArrayList<>();
        if (!node.end) {
            choices.add(Expr.EMPTY);
        }
        Utf8Ranges others = new Utf8Ranges().addAll(plain);
        for (Map.Entry<Integer, TrieNode> child : node.children.entrySet()) {
            int cp = child.getKey();
            others = others.intersect(new Utf8Ranges().add(cp, cp).complement());
            choices.add(seq(new Utf8Ranges().add(cp, cp).toExpr(), ref(keyRule(child.getValue(), plain, anyChar))));
        }
        Expr leave = others.toExpr();
        if (leave != null) {
            choices.add(seq(leave, star(anyChar)));
        }
        return named("key", choices.size() == 1 ? choices.get(0) : new Expr.Alt(List.copyOf(choices)));
    }

    // ------------------------------------------------------------------------------------------------ arrays

    private Expr array(Map<String, Object> s, String path) {
        if (s.containsKey("uniqueItems") && !Boolean.FALSE.equals(s.get("uniqueItems"))) {
            throw error(path + "/uniqueItems", "uniqueItems: true is not supported (a grammar cannot compare"
                    + " items)");
        }
        List<Expr> prefix = new ArrayList<>();
        if (s.get("prefixItems") instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                prefix.add(ref(named("item", schema(list.get(i), path + "/prefixItems/" + i))));
            }
        } else if (s.containsKey("prefixItems")) {
            throw error(path + "/prefixItems", "prefixItems must be an array of schemas");
        }
        int min = count(s, "minItems", path, 0);
        int max = count(s, "maxItems", path, -1);
        Object items = s.get("items");
        if (items instanceof List<?>) {
            throw error(path + "/items", "items as an array (draft 4 tuples) is not supported; use prefixItems");
        }
        Expr item = items == null ? ref(JsonRules.VALUE) : Boolean.FALSE.equals(items) ? null
                : ref(named("item", schema(items, path + "/items")));
        int k = prefix.size();
        if (item == null) {
            max = max < 0 ? k : Math.min(max, k);
        }
        if (max >= 0 && min > max) {
            throw error(path, "no array length satisfies minItems " + min + " and maxItems/items (at most " + max
                    + ")");
        }
        return seq(literal("["), tail(0, prefix, item, min, max), literal("]"));
    }

    /** The elements from index {@code i} on, after {@code i} were written. */
    private Expr tail(int i, List<Expr> prefix, Expr item, int min, int max) {
        if (max >= 0 && i >= max) {
            return Expr.EMPTY;
        }
        Expr comma = seq(literal(","), ref(JsonRules.WS));
        if (i < prefix.size()) {
            Expr part = seq(i == 0 ? Expr.EMPTY : comma, prefix.get(i), tail(i + 1, prefix, item, min, max));
            return i < min ? part : opt(part);
        }
        if (item == null) {
            return Expr.EMPTY;
        }
        int lo = Math.max(0, min - i);
        int hi = max < 0 ? -1 : max - i;
        if (i == 0) {
            Expr first = seq(item, new Expr.Repeat(seq(comma, item), Math.max(0, lo - 1), hi < 0 ? -1 : hi - 1));
            return lo >= 1 ? first : opt(first);
        }
        return new Expr.Repeat(seq(comma, item), lo, hi);
    }

    private ArborException error(String path, String message) {
        return ArborException.invalid(WHAT + ": at " + path + ": " + message);
    }
}
