package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OpenAiRequestTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private static JsonNode json(String text) throws Exception {
        return MAPPER.readTree(text.replace('\'', '"'));
    }

    @Test
    void mapsCompletionFieldsToTheArborRequest() throws Exception {
        OpenAiRequest r = OpenAiRequest.parse(json("{'model': 'p', 'prompt': 'Once', 'max_tokens': 7,"
                + " 'temperature': 0, 'top_p': 0.5, 'seed': 41, 'stop': ['.', '!'], 'n': 2, 'logprobs': 1,"
                + " 'stream': true, 'stream_options': {'include_usage': true}, 'user': 'ignored'}"), false);
        assertThat(r.stream()).isTrue();
        assertThat(r.includeUsage()).isTrue();
        assertThat(r.logprobs()).isTrue();
        assertThat(r.n()).isEqualTo(2);
        CompletionRequest first = r.toCompletionRequest(0, Map.of("timeout_ms", 5L));
        CompletionRequest second = r.toCompletionRequest(1, Map.of());
        assertThat(first.pipeline()).isEqualTo("p");
        assertThat(first.prompt()).isEqualTo("Once");
        assertThat(first.stop()).containsExactly(".", "!");
        assertThat(first.options().asMap()).containsEntry("max_tokens", 7).containsEntry("temperature", 0.0)
                .containsEntry("top_p", 0.5).containsEntry("seed", 41L).containsEntry("timeout_ms", 5L);
        assertThat(second.options().asMap()).containsEntry("seed", 42L); // seed + i for the i-th completion
    }

    @Test
    void readsTokenIdPromptsAndSingleStringStop() throws Exception {
        OpenAiRequest r = OpenAiRequest.parse(json("{'model': 'p', 'prompt': [1, 403, 407], 'stop': 'x'}"), false);
        assertThat(r.inputIds()).containsExactly(1, 403, 407);
        assertThat(r.prompt()).isNull();
        assertThat(r.stop()).containsExactly("x");
        assertThat(r.maxTokens()).isNull();
    }

    @Test
    void rendersChatMessagesAsAPlainPrompt() throws Exception {
        OpenAiRequest single = OpenAiRequest.parse(json("{'model': 'p', 'messages': [{'role': 'user',"
                + " 'content': 'Once upon'}], 'max_completion_tokens': 3, 'logprobs': true, 'top_logprobs': 2}"),
                true);
        assertThat(single.prompt()).isEqualTo("Once upon");
        assertThat(single.maxTokens()).isEqualTo(3);
        assertThat(single.topLogprobs()).isEqualTo(2);
        OpenAiRequest several = OpenAiRequest.parse(json("{'model': 'p', 'messages': [{'role': 'system',"
                + " 'content': 'Be kind.'}, {'role': 'user', 'content': [{'type': 'text', 'text': 'Hi'}]}]}"), true);
        assertThat(several.prompt()).isEqualTo("Be kind.\n\nHi");
    }

    @Test
    void mapsTheArborExtensionToPartsAndOptions() throws Exception {
        OpenAiRequest r = OpenAiRequest.parse(json("{'model': 'p', 'prompt': 'a', 'temperature': 1.5, 'arbor':"
                + " {'generator': {'name': 'beam-search', 'options': {'num_beams': 3}}, 'processors': ['min-p',"
                + " {'name': 'temperature'}], 'options': {'min_p': 0.1, 'temperature': 0.2}}}"), false);
        assertThat(r.generator().name()).isEqualTo("beam-search");
        assertThat(r.generator().options().asMap()).containsEntry("num_beams", 3);
        assertThat(r.processors()).extracting(PartRef::name).containsExactly("min-p", "temperature");
        // the standard field wins over the extension's options
        assertThat(r.options()).containsEntry("min_p", 0.1).containsEntry("temperature", 1.5);
        assertThat(OpenAiRequest.parse(json("{'model': 'p', 'arbor': {'generator': 'beam-search'}}"), false)
                .generator().name()).isEqualTo("beam-search");
    }

    @Test
    void namesTheFieldThatIsWrong() throws Exception {
        expectInvalid("{'prompt': 'a'}", "model", "'model' is required");
        expectInvalid("{'model': 3}", "model", "'model' must be a non-empty string, got a number (3)");
        expectInvalid("{'model': 'p', 'max_tokens': 'many'}", "max_tokens", "'max_tokens' must be an integer");
        expectInvalid("{'model': 'p', 'temperature': 'hot'}", "temperature", "'temperature' must be a number");
        expectInvalid("{'model': 'p', 'temperature': 9}", "temperature", "between 0.0 and 2.0");
        expectInvalid("{'model': 'p', 'stop': [1]}", "stop", "'stop' must be a string or a list of strings");
        expectInvalid("{'model': 'p', 'stream': 'yes'}", "stream", "'stream' must be true or false");
        expectInvalid("{'model': 'p', 'n': 0}", "n", "'n' must be between 1 and 16");
        expectInvalid("{'model': 'p', 'prompt': ['a', 'b']}", "prompt", "one prompt per request");
        expectInvalid("{'model': 'p', 'seed': 1.5}", "seed", "'seed' must be an integer");
        expectInvalid("{'model': 'p', 'arbor': {'processors': 'min-p'}}", "arbor.processors",
                "'arbor.processors' must be a list");
        expectInvalid("{'model': 'p', 'arbor': {'generator': 7}}", "arbor.generator", "a part name");
        assertThatThrownBy(() -> OpenAiRequest.parse(json("{'model': 'p', 'messages': [{'role': 'robot',"
                + " 'content': 'x'}]}"), true)).isInstanceOf(ApiError.class)
                .hasMessageContaining("'messages[0].role' must be one of");
        assertThatThrownBy(() -> OpenAiRequest.parse(json("{'model': 'p'}"), true)).isInstanceOf(ApiError.class)
                .hasMessage("'messages' is required");
        assertThatThrownBy(() -> OpenAiRequest.parse(json("[1]"), false)).isInstanceOf(ApiError.class)
                .hasMessageContaining("must be a JSON object");
    }

    @Test
    void namesTheTokenIdOrElementAtFaultInEachPromptForm() throws Exception {
        // ids past the int range used to be taken for several prompts ("'prompt' holds 2 prompts")
        expectInvalid("{'model': 'p', 'prompt': [1, 99999999999]}", "prompt",
                "'prompt' token id 99999999999 at index 1 is outside the vocabulary");
        expectInvalid("{'model': 'p', 'prompt': [1, -3]}", "prompt",
                "'prompt' token id -3 at index 1 is outside the vocabulary");
        expectInvalid("{'model': 'p', 'prompt': [1, 2.5]}", "prompt", "'prompt' token id 2.5 at index 1 is not an"
                + " integer");
        expectInvalid("{'model': 'p', 'prompt': [1, 'a']}", "prompt", "'prompt' mixes token ids with a string"
                + " (\"a\") at index 1");
        expectInvalid("{'model': 'p', 'prompt': [[7, 99999999999]]}", "prompt",
                "'prompt[0]' token id 99999999999 at index 1 is outside the vocabulary");
        expectInvalid("{'model': 'p', 'prompt': [[1], [2]]}", "prompt", "'prompt' holds 2 prompts");
        expectInvalid("{'model': 'p', 'prompt': [[1], 2]}", "prompt", "'prompt' mixes lists of token ids with a"
                + " number (2) at index 1");
        expectInvalid("{'model': 'p', 'prompt': ['a', 2]}", "prompt", "'prompt' mixes strings with a number (2) at"
                + " index 1");
        expectInvalid("{'model': 'p', 'prompt': ['a', 'b', 'c']}", "prompt", "'prompt' holds 3 prompts");
        expectInvalid("{'model': 'p', 'prompt': []}", "prompt", "'prompt' is an empty list");
        expectInvalid("{'model': 'p', 'prompt': [[]]}", "prompt", "'prompt[0]' is an empty list of token ids");
        expectInvalid("{'model': 'p', 'prompt': [true]}", "prompt", "got a list holding a boolean (true) at index 0");
        expectInvalid("{'model': 'p', 'prompt': {'a': 1}}", "prompt", "'prompt' must be a string or a list of token"
                + " ids, got an object");
        assertThat(OpenAiRequest.parse(json("{'model': 'p', 'prompt': [[5, 2147483647]]}"), false).inputIds())
                .containsExactly(5, Integer.MAX_VALUE);
        assertThat(OpenAiRequest.parse(json("{'model': 'p', 'prompt': ['one']}"), false).prompt()).isEqualTo("one");
    }

    private static void expectInvalid(String body, String param, String message) {
        assertThatThrownBy(() -> OpenAiRequest.parse(json(body), false)).isInstanceOfSatisfying(ApiError.class,
                e -> {
                    assertThat(e.status).isEqualTo(400);
                    assertThat(e.param).isEqualTo(param);
                    assertThat(e.getMessage()).contains(message);
                });
    }
}
