package dev.arbor.api.pipeline;

import java.util.List;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * Renders Hugging Face chat templates (Jinja, as {@code transformers} applies {@code tokenizer_config.json}'s
 * {@code chat_template}). The platform finds the template and the special tokens and tokenizes the result; an
 * engine only renders. Since 1.4.
 */
@ConsumerType
public interface ChatTemplateEngine {

    /**
     * Renders {@code template} with the context Hugging Face gives templates: {@code messages} (each with
     * {@code role} and {@code content}), {@code add_generation_prompt}, {@code bos_token}, {@code eos_token},
     * {@code raise_exception(message)} and {@code strftime_now(format)}; {@code tools} and {@code documents} are
     * undefined. A template's {@code raise_exception} fails with an {@code ArborException} of kind INVALID_INPUT
     * carrying its message (the conversation is what the template refuses); a template that cannot be parsed or
     * rendered fails with kind BAD_MODEL naming the problem.
     */
    String render(String template, List<ChatMessage> messages, boolean addGenerationPrompt, String bosToken,
                  String eosToken);
}
