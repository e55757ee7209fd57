package dev.arbor.processor.structured;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.processor.structured.internal.Constraints;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Part {@code structured-output}: a logits processor that allows only outputs in a formal language, given by exactly
 * one of the options
 * <ul>
 *   <li>{@value #JSON_SCHEMA}: a JSON Schema (JSON text, or an already parsed object), the output is one JSON value
 *       it validates;</li>
 *   <li>{@value #JSON_OBJECT}: {@code true}, the output is any JSON object;</li>
 *   <li>{@value #REGEX}: a regular expression ({@link java.util.regex.Pattern} syntax and meaning) the WHOLE output
 *       matches;</li>
 *   <li>{@value #GRAMMAR}: a GBNF grammar (llama.cpp syntax), start rule {@code root};</li>
 * </ul>
 * and optionally {@value #MAX_TOKENS}, the request's token budget, which turns on budget forcing (the output is a
 * complete sentence when the budget ends). Outputs are matched as the bytes the tokenizer's
 * {@link Tokenizer#tokenBytes tokens append}; the end-of-sequence token is allowed exactly where the output is
 * complete, and it is the only token allowed where nothing can follow.
 *
 * <p>Method: the constraint is a byte-level context-free grammar (the three text front ends compile to it) run by
 * a pushdown recognizer whose states are sets of parse stacks, as in llama.cpp's grammar sampler; the allowed
 * tokens of a state come from one walk of the vocabulary's byte trie with the recognizer, pruned at the first byte
 * the grammar rejects (Willard and Louf 2023, "Efficient Guided Generation for Large Language Models", index the
 * vocabulary against the automaton once; Dong et al. 2024, XGrammar, walk a token trie with a pushdown automaton).
 * Masks are cached per recognizer state. JSON output allows at most one space after {@code :} and {@code ,} and no
 * other whitespace, so that a model that has not learned JSON cannot spend its budget on whitespace.
 *
 * <p>Compiled constraints are cached (key: kind, text and tokenizer), with the vocabulary trie per tokenizer and
 * the masks per grammar state, so creating a processor per request or per row is cheap. Every cache is bounded.
 */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=" + StructuredOutputFactory.PART,
    PartProperties.DESCRIPTION + "=Structured outputs: only outputs matching a JSON schema, a JSON object, a regular"
            + " expression or a GBNF grammar (options json_schema, json_object, regex, grammar; max_tokens)"})
public final class StructuredOutputFactory implements LogitsProcessorFactory {
    public static final String PART = "structured-output";
    /** Option: a JSON Schema, as JSON text or a parsed object. */
    public static final String JSON_SCHEMA = Constraints.JSON_SCHEMA;
    /** Option: true for any JSON object. */
    public static final String JSON_OBJECT = Constraints.JSON_OBJECT;
    /** Option: a regular expression the whole output matches. */
    public static final String REGEX = Constraints.REGEX;
    /** Option: a GBNF grammar with start rule {@code root}. */
    public static final String GRAMMAR = Constraints.GRAMMAR;
    /** Option: the request's token budget (budget forcing); absent means none. */
    public static final String MAX_TOKENS = Constraints.MAX_TOKENS;
    /** The traits of every processor: see {@link Trait}. */
    public static final Set<Trait> TRAITS = Constraints.TRAITS;

    private final Constraints constraints = new Constraints();

    /** Refused: the processor reads the vocabulary, so it needs the pipeline's tokenizer. */
    @Override
    public LogitsProcessor create(Options options) {
        return create(options, null);
    }

    @Override
    public LogitsProcessor create(Options options, Tokenizer tokenizer) {
        return constraints.processor(options == null ? Options.empty() : options, tokenizer);
    }

    @Override
    public Set<Trait> traits() {
        return TRAITS;
    }

    /** Drops every cached grammar, vocabulary and mask (tests, memory pressure). */
    public void clearCaches() {
        constraints.clear();
    }
}
