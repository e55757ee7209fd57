package dev.arbor.processor.structured.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads a request's options, compiles its constraint (or takes it from the caches) and makes its processor. Three
 * caches, all bounded (least recently used out): 64 compiled grammars by (kind, text); 8 vocabulary tries by
 * tokenizer identity; 16 constraints (grammar + vocabulary + mask cache of at most {@link Constraint#MAX_MASKS}
 * masks and {@link Constraint#MAX_MASK_BYTES} bytes) by (kind, text, tokenizer identity).
 */
public final class Constraints {
    /** Option names (the part's contract). */
    public static final String JSON_SCHEMA = "json_schema";
    public static final String JSON_OBJECT = "json_object";
    public static final String REGEX = "regex";
    public static final String GRAMMAR = "grammar";
    public static final String MAX_TOKENS = "max_tokens";
    /** Ids that end the output where the constraint accepts (the request's stop ids). */
    public static final String END_TOKEN_IDS = "end_token_ids";
    /** The traits of every structured-output processor (it draws no randomness). */
    public static final Set<Trait> TRAITS = Set.of(Trait.CONSTRAINS_OUTPUT, Trait.HISTORY_DEPENDENT,
            Trait.SPECULATIVE_SAFE, Trait.BATCH_SAFE);
    /** Longest constraint text accepted (requests are hostile). */
    public static final int MAX_TEXT = 1 << 20;
    static final List<String> KINDS = List.of(JSON_SCHEMA, JSON_OBJECT, REGEX, GRAMMAR);

    private final LruCache<Source, Grammar> grammars = new LruCache<>(64, Long.MAX_VALUE, g -> 1);
    private final LruCache<IdentityRef, Vocabulary> vocabularies = new LruCache<>(8, Long.MAX_VALUE, v -> 1);
    private final LruCache<Key, Constraint> constraints = new LruCache<>(16, Long.MAX_VALUE, c -> 1);

    /** A constraint's kind and canonical text. */
    record Source(String kind, String text) {
    }

    /** Source and tokenizer, compared by identity (tokenizers are immutable once opened). */
    private record Key(Source source, IdentityRef tokenizer) {
    }

    private record IdentityRef(Tokenizer tokenizer) {
        @Override
        public boolean equals(Object o) {
            return o instanceof IdentityRef other && other.tokenizer == tokenizer;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(tokenizer);
        }
    }

    public LogitsProcessor processor(Options options, Tokenizer tokenizer) {
        Source source = source(options);
        int maxTokens = options.integer(MAX_TOKENS, -1, 1, Integer.MAX_VALUE);
        if (tokenizer == null) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "structured-output needs the pipeline's"
                    + " tokenizer (it matches the constraint against each token's bytes); it was created without"
                    + " one: use a pipeline with a tokenizer");
        }
        Constraint constraint = constraint(source, tokenizer);
        if (maxTokens > 0) {
            constraint.checkBudget(maxTokens, describe(source.kind()));
        }
        return new StructuredProcessor(constraint, maxTokens, endTokens(options, constraint.vocabulary),
                describe(source.kind()));
    }

    /**
     * The ids that end the output: option {@value #END_TOKEN_IDS} (the request's stop ids, which the platform passes:
     * the model's end-of-sequence id, which may differ from the tokenizer's, and a generation config's extra ones)
     * plus the tokenizer's end-of-sequence id.
     */
    static int[] endTokens(Options options, Vocabulary vocabulary) {
        int[] given = options.integers(END_TOKEN_IDS);
        java.util.TreeSet<Integer> ends = new java.util.TreeSet<>();
        ends.add(vocabulary.eos);
        for (int id : given) {
            if (id < 0) {
                throw ArborException.invalid("option '" + END_TOKEN_IDS + "' holds token id " + id + "; ids are not"
                        + " negative");
            }
            ends.add(id);
        }
        return ends.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The compiled constraint of {@code source} over {@code tokenizer}'s vocabulary, cached. */
    Constraint constraint(Source source, Tokenizer tokenizer) {
        Key key = new Key(source, new IdentityRef(tokenizer));
        return constraints.computeIfAbsent(key, k -> new Constraint(grammar(source), vocabulary(tokenizer)));
    }

    Grammar grammar(Source source) {
        return grammars.computeIfAbsent(source, Constraints::compile);
    }

    Vocabulary vocabulary(Tokenizer tokenizer) {
        return vocabularies.computeIfAbsent(new IdentityRef(tokenizer), k -> Vocabulary.of(tokenizer));
    }

    public void clear() {
        grammars.clear();
        constraints.clear();
        vocabularies.clear();
    }

    static Grammar compile(Source source) {
        return switch (source.kind()) {
            case JSON_OBJECT -> JsonRules.objectGrammar();
            case REGEX -> RegexParser.compile(source.text());
            case GRAMMAR -> GbnfParser.compile(source.text());
            case JSON_SCHEMA -> JsonSchemaCompiler.compile(source.text());
            default -> throw new IllegalArgumentException(source.kind());
        };
    }

    private static String describe(String kind) {
        return switch (kind) {
            case JSON_SCHEMA -> "JSON schema";
            case JSON_OBJECT -> "JSON object grammar";
            case REGEX -> "regular expression";
            default -> "grammar";
        };
    }

    /**
     * The JSON text of a parsed schema of another library (a Jackson or Gson tree prints itself as JSON); null when
     * its text is not a JSON object or boolean.
     */
    private static String jsonText(Object raw) {
        try {
            Object parsed = Json.parse(raw.toString(), JSON_SCHEMA);
            return parsed instanceof Map<?, ?> || parsed instanceof Boolean ? Json.write(parsed) : null;
        } catch (ArborException e) {
            return null;
        }
    }

    /** Which one constraint the options give, with its text; refuses none, several, or a wrong type. */
    static Source source(Options options) {
        List<String> given = new ArrayList<>();
        for (String kind : KINDS) {
            if (options.has(kind) && !(kind.equals(JSON_OBJECT) && !options.bool(JSON_OBJECT, false))) {
                given.add(kind);
            }
        }
        if (given.size() != 1) {
            throw ArborException.invalid("structured-output needs exactly one of the options " + String.join(", ",
                    KINDS) + (given.isEmpty() ? "; none was given" : "; got " + String.join(" and ", given)));
        }
        String kind = given.get(0);
        Object raw = options.raw(kind).orElseThrow();
        String text;
        switch (kind) {
            case JSON_OBJECT -> text = "";
            case JSON_SCHEMA -> {
                text = raw instanceof String s ? s : raw instanceof Map<?, ?> || raw instanceof Boolean
                        ? Json.write(raw) : jsonText(raw);
                if (text == null) {
                    throw ArborException.invalid("option '" + JSON_SCHEMA + "' must be a JSON Schema (JSON text or"
                            + " an object), got " + raw.getClass().getSimpleName());
                }
            }
            default -> {
                if (!(raw instanceof String s)) {
                    throw ArborException.invalid("option '" + kind + "' must be text, got "
                            + raw.getClass().getSimpleName());
                }
                text = s;
            }
        }
        if (text.length() > MAX_TEXT) {
            throw ArborException.invalid("option '" + kind + "' is " + text.length() + " characters long; at most "
                    + MAX_TEXT + " are accepted");
        }
        if (!kind.equals(JSON_OBJECT) && text.isBlank() && !kind.equals(REGEX)) {
            throw ArborException.invalid("option '" + kind + "' is empty");
        }
        return new Source(kind, text);
    }
}
