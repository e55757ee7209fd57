package dev.arbor.chat.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.pipeline.ChatMessage;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Real-world chat templates (as published in the models' tokenizer_config.json) rendered by the engine and compared
 * with the strings Hugging Face's Jinja renders for them, written out by hand from the templates' rules.
 */
class JinjavaChatTemplateEngineTest {
    private final JinjavaChatTemplateEngine engine = new JinjavaChatTemplateEngine();

    /** ChatML, as in OpenHermes-2.5 / Qwen-style tokenizer_config.json files. */
    static final String CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'"
            + " + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
            + "{{ '<|im_start|>assistant\\n' }}{% endif %}";

    /** meta-llama/Llama-2-7b-chat-hf: [INST], the <<SYS>> block folded into the first user turn, alternation check. */
    static final String LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
            + "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
            + "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
            + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles"
            + " must alternate user/assistant/user/assistant/...') }}{% endif %}"
            + "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message"
            + " + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}"
            + "{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
            + "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
            + "{% endfor %}";

    /** HuggingFaceH4/zephyr-7b-beta: one tag line per turn; trim_blocks/lstrip_blocks decide every newline. */
    static final String ZEPHYR = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
            + "{{ '<|user|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n"
            + "{{ '<|system|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
            + "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
            + "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

    /** mistralai Mistral-7B-Instruct-v0.3 style: whitespace control, `is defined`, loop.first, |trim. */
    static final String MISTRAL = "{%- if messages[0]['role'] == 'system' %}\n"
            + "    {%- set system_message = messages[0]['content'] %}\n"
            + "    {%- set loop_messages = messages[1:] %}\n"
            + "{%- else %}\n"
            + "    {%- set loop_messages = messages %}\n"
            + "{%- endif %}\n\n"
            + "{{- bos_token }}\n"
            + "{%- for message in loop_messages %}\n"
            + "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
            + "        {{- raise_exception('After the optional system message, conversation roles must alternate"
            + " user/assistant/user/assistant/...') }}\n"
            + "    {%- endif %}\n"
            + "    {%- if message['role'] == 'user' %}\n"
            + "        {%- if loop.first and system_message is defined %}\n"
            + "            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n"
            + "        {%- else %}\n"
            + "            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n"
            + "        {%- endif %}\n"
            + "    {%- elif message['role'] == 'assistant' %}\n"
            + "        {{- ' ' + message['content']|trim + eos_token}}\n"
            + "    {%- else %}\n"
            + "        {{- raise_exception('Only user and assistant roles are supported, with the exception of an"
            + " initial optional system message!') }}\n"
            + "    {%- endif %}\n"
            + "{%- endfor %}\n";

    /** deepseek-ai DeepSeek-R1 style (user/assistant part): a namespace carries the system prompt across loops. */
    static final String DEEPSEEK = "{% set ns = namespace(is_first=false, system_prompt='') %}"
            + "{%- for message in messages %}{%- if message['role'] == 'system' %}"
            + "{%- if ns.is_first %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}"
            + "{%- else %}{% set ns.system_prompt = message['content'] %}{% set ns.is_first = true %}{%- endif %}"
            + "{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}"
            + "{%- for message in messages %}{%- if message['role'] == 'user' %}"
            + "{{'<\uFF5CUser\uFF5C>' + message['content']}}{%- endif %}"
            + "{%- if message['role'] == 'assistant' %}{{'<\uFF5CAssistant\uFF5C>' + message['content']"
            + " + '<\uFF5Cend\u2581of\u2581sentence\uFF5C>'}}{%- endif %}{%- endfor %}"
            + "{% if add_generation_prompt %}{{'<\uFF5CAssistant\uFF5C><think>\\n'}}{% endif %}";

    /**
     * Qwen2.5-Instruct style: a default system prompt when none is given, attribute access ({@code message.role}),
     * undefined {@code tools} and {@code tool_calls}, consecutive tool results merged into one user turn.
     */
    static final String QWEN25 = "{%- if tools %}\n"
            + "    {{- '<|im_start|>system\\n' }}\n"
            + "    {%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}"
            + "{{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}{%- endif %}\n"
            + "    {{- '\\n\\n# Tools\\n\\n<tools>' }}{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}"
            + "{%- endfor %}{{- '\\n</tools><|im_end|>\\n' }}\n"
            + "{%- else %}\n"
            + "    {%- if messages[0]['role'] == 'system' %}\n"
            + "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
            + "    {%- else %}\n"
            + "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful"
            + " assistant.<|im_end|>\\n' }}\n"
            + "    {%- endif %}\n"
            + "{%- endif %}\n"
            + "{%- for message in messages %}\n"
            + "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or"
            + " (message.role == \"assistant\" and not message.tool_calls) %}\n"
            + "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
            + "    {%- elif message.role == \"assistant\" %}\n"
            + "        {{- '<|im_start|>' + message.role }}\n"
            + "        {%- for tool_call in message.tool_calls %}{{- '\\n<tool_call>\\n' }}"
            + "{{- tool_call.function | tojson }}{{- '\\n</tool_call>' }}{%- endfor %}\n"
            + "        {{- '<|im_end|>\\n' }}\n"
            + "    {%- elif message.role == \"tool\" %}\n"
            + "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
            + "            {{- '<|im_start|>user' }}\n"
            + "        {%- endif %}\n"
            + "        {{- '\\n<tool_response>\\n' }}\n"
            + "        {{- message.content }}\n"
            + "        {{- '\\n</tool_response>' }}\n"
            + "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
            + "            {{- '<|im_end|>\\n' }}\n"
            + "        {%- endif %}\n"
            + "    {%- endif %}\n"
            + "{%- endfor %}\n"
            + "{%- if add_generation_prompt %}\n"
            + "    {{- '<|im_start|>assistant\\n' }}\n"
            + "{%- endif %}\n";

    /**
     * Qwen3 style assistant turns: the reasoning before {@code </think>} is dropped from earlier answers with
     * Python's string methods ({@code split}, {@code rstrip}, {@code lstrip}, {@code startswith}).
     */
    static final String QWEN3_THINK = "{%- for message in messages %}\n"
            + "    {%- set content = message.content if message.content is string else '' %}\n"
            + "    {%- if message.role == 'assistant' and '</think>' in content %}\n"
            + "        {%- set content = content.split('</think>')[-1].lstrip('\\n') %}\n"
            + "    {%- endif %}\n"
            + "    {%- if message.role == 'user' and content.startswith('<tool_response>') %}\n"
            + "        {{- '<|im_start|>tool\\n' + content.strip() + '<|im_end|>\\n' }}\n"
            + "    {%- else %}\n"
            + "        {{- '<|im_start|>' + message.role + '\\n' + content.rstrip('\\n') + '<|im_end|>\\n' }}\n"
            + "    {%- endif %}\n"
            + "{%- endfor %}\n"
            + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

    private static final List<ChatMessage> CONVERSATION = List.of(
            new ChatMessage("system", "You are terse."),
            new ChatMessage("user", "  Hello there  "),
            new ChatMessage("assistant", "Hi."),
            new ChatMessage("user", "Tell me a story."));

    @Test
    void chatMlWritesEachTurnAndTheGenerationPrompt() {
        String out = engine.render(CHATML, CONVERSATION, true, "<s>", "</s>");
        assertThat(out).isEqualTo("<|im_start|>system\nYou are terse.<|im_end|>\n"
                + "<|im_start|>user\n  Hello there  <|im_end|>\n"
                + "<|im_start|>assistant\nHi.<|im_end|>\n"
                + "<|im_start|>user\nTell me a story.<|im_end|>\n"
                + "<|im_start|>assistant\n");
        assertThat(engine.render(CHATML, CONVERSATION.subList(1, 2), false, "<s>", "</s>"))
                .isEqualTo("<|im_start|>user\n  Hello there  <|im_end|>\n");
    }

    @Test
    void llama2FoldsTheSystemPromptAndStripsContent() {
        String out = engine.render(LLAMA2, CONVERSATION, true, "<s>", "</s>");
        assertThat(out).isEqualTo("<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\n  Hello there [/INST]"
                + " Hi. </s><s>[INST] Tell me a story. [/INST]");
    }

    @Test
    void llama2RefusesConversationsThatDoNotAlternate() {
        List<ChatMessage> twoUsers = List.of(new ChatMessage("user", "a"), new ChatMessage("user", "b"));
        assertThatThrownBy(() -> engine.render(LLAMA2, twoUsers, true, "<s>", "</s>"))
                .isInstanceOfSatisfying(ArborException.class, e -> {
                    assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT);
                    assertThat(e.getMessage()).contains("Conversation roles must alternate user/assistant");
                });
        // the refusal is per rendering: the next one on this thread renders normally
        assertThat(engine.render(LLAMA2, List.of(new ChatMessage("user", "a")), true, "<s>", "</s>"))
                .isEqualTo("<s>[INST] a [/INST]");
    }

    @Test
    void zephyrKeepsTheNewlinesAfterExpressionsAndDropsThoseAfterTags() {
        String out = engine.render(ZEPHYR, List.of(new ChatMessage("system", "You are a friendly chatbot"),
                new ChatMessage("user", "Hi")), true, "<s>", "</s>");
        assertThat(out).isEqualTo("<|system|>\nYou are a friendly chatbot</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
    }

    @Test
    void mistralUsesWhitespaceControlIsDefinedAndTrim() {
        String out = engine.render(MISTRAL, CONVERSATION, true, "<s>", "</s>");
        assertThat(out).isEqualTo("<s> [INST] You are terse.\n\n  Hello there   [/INST] Hi.</s> [INST] Tell me a"
                + " story. [/INST]");
        assertThat(engine.render(MISTRAL, List.of(new ChatMessage("user", "x")), true, "<s>", "</s>"))
                .isEqualTo("<s> [INST] x [/INST]");
        assertThatThrownBy(() -> engine.render(MISTRAL, List.of(new ChatMessage("user", "x"),
                new ChatMessage("tool", "y")), true, "<s>", "</s>"))
                .hasMessageContaining("Only user and assistant roles are supported");
    }

    @Test
    void deepSeekCarriesStateThroughANamespace() {
        List<ChatMessage> messages = List.of(new ChatMessage("system", "A"), new ChatMessage("system", "B"),
                new ChatMessage("user", "Q"), new ChatMessage("assistant", "R"), new ChatMessage("user", "Q2"));
        String out = engine.render(DEEPSEEK, messages, true, "<bos>", "<eos>");
        assertThat(out).isEqualTo("<bos>A\n\nB<\uFF5CUser\uFF5C>Q<\uFF5CAssistant\uFF5C>R"
                + "<\uFF5Cend\u2581of\u2581sentence\uFF5C><\uFF5CUser\uFF5C>Q2<\uFF5CAssistant\uFF5C><think>\n");
    }

    @Test
    void qwen25AddsItsDefaultSystemPromptAndMergesToolResults() {
        String out = engine.render(QWEN25, List.of(new ChatMessage("user", "Weather?"),
                new ChatMessage("assistant", "Checking."), new ChatMessage("tool", "rain"),
                new ChatMessage("tool", "cold")), true, "", "<|im_end|>");
        assertThat(out).isEqualTo("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful"
                + " assistant.<|im_end|>\n"
                + "<|im_start|>user\nWeather?<|im_end|>\n"
                + "<|im_start|>assistant\nChecking.<|im_end|>\n"
                + "<|im_start|>user\n<tool_response>\nrain\n</tool_response>\n<tool_response>\ncold\n"
                + "</tool_response><|im_end|>\n"
                + "<|im_start|>assistant\n");
        assertThat(engine.render(QWEN25, CONVERSATION.subList(0, 2), false, "", "")).isEqualTo(
                "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\n  Hello there  <|im_end|>\n");
    }

    @Test
    void pythonStringMethodsWorkOnMessageText() {
        String out = engine.render(QWEN3_THINK, List.of(new ChatMessage("user", "Hi\n\n"),
                new ChatMessage("assistant", "<think>\nponder\n</think>\n\nHello.\n"),
                new ChatMessage("user", "<tool_response> 42 </tool_response>  ")), true, "", "");
        assertThat(out).isEqualTo("<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello.<|im_end|>\n"
                + "<|im_start|>tool\n<tool_response> 42 </tool_response><|im_end|>\n"
                + "<|im_start|>assistant\n");
        assertThat(engine.render("{{ '  a  b '.split() }}|{{ 'a,b,,c'.split(',', 2) }}|{{ 'x.y'.split('.') }}|"
                + "{{ ', '.join(['p', 'q']) }}|{{ 'hello world'.title() }}|{{ 'aXbXc'.replace('X', '-', 1) }}|"
                + "{{ 'abc'.endswith(['z', 'c']) }}|{{ 'xxhixx'.strip('x') }}|{{ 'banana'.count('an') }}",
                CONVERSATION, true, "", "")).isEqualTo("[a, b]|[a, b, ,c]|[x, y]|p, q|Hello World|a-bXc|true|hi|2");
    }

    @Test
    void messageTextIsNeverInterpretedAsTemplate() {
        String out = engine.render(CHATML, List.of(new ChatMessage("user", "{{ 7 * 7 }} {% if true %}x{% endif %}")),
                false, "<s>", "</s>");
        assertThat(out).isEqualTo("<|im_start|>user\n{{ 7 * 7 }} {% if true %}x{% endif %}<|im_end|>\n");
    }

    @Test
    void templatesCannotLoadOtherTemplates() {
        assertThatThrownBy(() -> engine.render("{% include '/etc/passwd' %}", CONVERSATION, true, "", ""))
                .isInstanceOf(ArborException.class);
    }

    @Test
    void aBrokenTemplateIsABadModelNamingTheProblem() {
        assertThatThrownBy(() -> engine.render("{% for m in messages %}", CONVERSATION, true, "", ""))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.BAD_MODEL));
    }

    @Test
    void undefinedToolsAndStrftimeNowBehaveAsInTransformers() {
        assertThat(engine.render("{% if tools is defined %}T{% else %}none{% endif %}", CONVERSATION, true, "", ""))
                .isEqualTo("none");
        String today = engine.render("{{ strftime_now('%Y') }}", CONVERSATION, true, "", "");
        assertThat(today).isEqualTo(Integer.toString(java.time.LocalDate.now().getYear()));
        ZonedDateTime t = ZonedDateTime.of(2024, 7, 5, 14, 3, 9, 0, ZoneOffset.UTC);
        assertThat(TemplateFunctions.strftime(t, "%d %b %Y, %A %H:%M:%S %I%p %j %% %Q"))
                .isEqualTo("05 Jul 2024, Friday 14:03:09 02PM 187 % %Q");
    }
}
