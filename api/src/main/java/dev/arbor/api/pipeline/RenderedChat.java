package dev.arbor.api.pipeline;

/**
 * A conversation rendered by its pipeline's chat template, ready to complete. Since 1.4.
 *
 * @param text     what the template rendered (special tokens written as text, as Hugging Face renders them)
 * @param ids      the prompt ids: {@code text} tokenized without adding special tokens again, because templates
 *                 write them themselves (Hugging Face's {@code apply_chat_template(tokenize=True)})
 * @param template where the template came from, for logs and errors ({@code tokenizer_config.json}, a built-in
 *                 name, or {@code pipeline file})
 */
public record RenderedChat(String text, int[] ids, String template) {
}
