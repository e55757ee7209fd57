/**
 * Structured outputs: the logits processor factory {@code structured-output}, which allows only outputs that match
 * a JSON schema, any JSON object, a regular expression or a GBNF grammar.
 */
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.processor.structured;
