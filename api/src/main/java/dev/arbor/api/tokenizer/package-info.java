/** Tokenizers: text to ids and back, special tokens, and the providers that open tokenizer files. */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package dev.arbor.api.tokenizer;
