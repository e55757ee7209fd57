package dev.arbor.tests.security;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Huge prompts cost nothing: with {@code --max-prompt-tokens 200} a 680 KB prompt is refused by its byte size before
 * anything tokenizes it, and a 51 KB one (under the byte limit, over the token limit) is tokenized in linear time
 * and refused. Before, tokenization was quadratic and ran before every limit: 51 KB took 35 s, 680 KB got its 504
 * after 120 s and kept a core busy for minutes more.
 */
class OversizePromptIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static ServedArbor arbor;

    @BeforeAll
    static void start() throws Exception {
        arbor = ServedArbor.start("--max-prompt-tokens", "200", "--request-timeout-ms", "5000");
    }

    @AfterAll
    static void stop() throws Exception {
        if (arbor != null) {
            arbor.close();
        }
    }

    private static String completion(String prompt) {
        ObjectNode body = JSON.createObjectNode().put("model", "stories260k").put("max_tokens", 5);
        body.put("prompt", prompt);
        return body.toString();
    }

    private static String chat(String content) {
        ObjectNode body = JSON.createObjectNode().put("model", "stories260k").put("max_tokens", 5);
        body.putArray("messages").addObject().put("role", "user").put("content", content);
        return body.toString();
    }

    private static String story(int bytes) {
        String s = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ";
        return s.repeat(bytes / s.length() + 1).substring(0, bytes);
    }

    @Test
    void a680KilobytePromptIsRefusedAtOnceByItsSize() throws Exception {
        for (String body : new String[] {completion(story(680_000)), chat(story(680_000))}) {
            long start = System.nanoTime();
            HttpResponse<String> r = arbor.post(body.contains("messages") ? "/v1/chat/completions"
                    : "/v1/completions", body);
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
            assertThat(r.body()).contains("limit of 51200 UTF-8 bytes").contains("max_prompt_tokens 200")
                    .contains("max_prompt_bytes").doesNotContain("Exception");
            assertThat(millis).as("answered in ms").isLessThan(2_000);
        }
    }

    @Test
    void a51KilobytePromptIsTokenizedQuicklyAndRefusedByItsTokenCount() throws Exception {
        long start = System.nanoTime();
        HttpResponse<String> r = arbor.post("/v1/completions", completion(story(51_000)));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(r.body()).contains("tokens, more than this server's limit of 200 (max_prompt_tokens)");
        assertThat(millis).as("answered in ms (35 s with the quadratic encoder)").isLessThan(2_000);
    }

    @Test
    void aPromptWithinTheLimitsIsServed() throws Exception {
        HttpResponse<String> r = arbor.post("/v1/completions", completion(story(300)));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    }
}
