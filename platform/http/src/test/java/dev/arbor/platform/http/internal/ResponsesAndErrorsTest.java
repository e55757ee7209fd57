package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.ArborException;
import dev.arbor.api.ArborException.Kind;
import dev.arbor.platform.http.internal.OpenAiResponses.Choice;
import dev.arbor.platform.http.internal.OpenAiResponses.Meta;
import dev.arbor.platform.http.internal.OpenAiResponses.TokenLogprob;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class ResponsesAndErrorsTest {

    @Test
    void mapsEveryFailureKindToAStatus() {
        assertThat(status(Kind.INVALID_INPUT)).isEqualTo(400);
        assertThat(status(Kind.INCOMPATIBLE)).isEqualTo(400);
        assertThat(status(Kind.NOT_FOUND)).isEqualTo(404);
        assertThat(status(Kind.UNAVAILABLE)).isEqualTo(503);
        assertThat(status(Kind.PLUGIN_FAILURE)).isEqualTo(500);
        assertThat(status(Kind.BAD_MODEL)).isEqualTo(500);
        assertThat(status(Kind.CANCELLED)).isEqualTo(504);
    }

    private static int status(Kind kind) {
        return ApiError.from(new ArborException(kind, "m")).status;
    }

    @Test
    void writesErrorsInOpenAisShape() {
        ApiError e = ApiError.from(new ArborException(Kind.PLUGIN_FAILURE,
                "logits processor 'x' (bundle b 1.0) failed: boom"));
        JsonNode json = OpenAiResponses.error(e);
        assertThat(json.fieldNames()).toIterable().containsExactly("error");
        JsonNode error = json.get("error");
        assertThat(error.get("message").asText()).isEqualTo("logits processor 'x' (bundle b 1.0) failed: boom");
        assertThat(error.get("type").asText()).isEqualTo("server_error");
        assertThat(error.has("param")).isTrue();
        assertThat(error.get("code").asText()).isEqualTo("plugin_failure");
    }

    @Test
    void buildsCompletionAndChatResponses() {
        List<TokenLogprob> tokens = List.of(new TokenLogprob(5, "Hi", -0.5), new TokenLogprob(6, "!", -1.0));
        JsonNode completion = OpenAiResponses.response(new Meta("cmpl-1", 10, "p", false),
                List.of(new Choice(0, "Hi!", tokens, "length")), true, 0, 3, new StrategyUsage());
        assertThat(completion.get("object").asText()).isEqualTo("text_completion");
        JsonNode choice = completion.get("choices").get(0);
        assertThat(choice.get("text").asText()).isEqualTo("Hi!");
        assertThat(choice.get("finish_reason").asText()).isEqualTo("length");
        assertThat(choice.get("logprobs").get("token_logprobs").toString()).isEqualTo("[-0.5,-1.0]");
        assertThat(choice.get("logprobs").get("text_offset").toString()).isEqualTo("[0,2]");
        assertThat(completion.get("usage").toString())
                .isEqualTo("{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}");

        JsonNode chat = OpenAiResponses.response(new Meta("chatcmpl-1", 10, "p", true),
                List.of(new Choice(0, "Hi!", tokens, "stop")), false, 0, 3, new StrategyUsage());
        assertThat(chat.get("object").asText()).isEqualTo("chat.completion");
        JsonNode message = chat.get("choices").get(0).get("message");
        assertThat(message.get("role").asText()).isEqualTo("assistant");
        assertThat(message.get("content").asText()).isEqualTo("Hi!");
        assertThat(chat.get("choices").get(0).get("logprobs").isNull()).isTrue();
    }

    @Test
    void reportsWhatASpeculativeStrategyDidInsideUsage() {
        StrategyUsage strategy = new StrategyUsage();
        java.util.Map<String, Object> stats = java.util.Map.of("generator", "speculative", "forward_passes", 5,
                "speculative.steps", 4, "speculative.drafted", 16, "speculative.accepted", 12);
        strategy.add(new dev.arbor.api.pipeline.Completion("p", "abc", new int[] {1}, new int[16], new double[16],
                dev.arbor.api.generation.FinishReason.LENGTH, 1L, 2L, stats));
        JsonNode usage = OpenAiResponses.usageChunk(new Meta("cmpl-2", 10, "p", false), 1, 16, strategy)
                .get("usage");
        JsonNode speculative = usage.get("arbor").get("speculative");
        assertThat(usage.get("arbor").get("generator").asText()).isEqualTo("speculative");
        assertThat(speculative.get("acceptance_rate").asDouble()).isEqualTo(0.75);
        assertThat(speculative.get("tokens_per_step").asDouble()).isEqualTo(4.0);
        assertThat(usage.get("total_tokens").asInt()).isEqualTo(17);
    }

    @Test
    void carriesTheGeneratorsOtherFiguresAsStatsSummedOverChoices() {
        StrategyUsage strategy = new StrategyUsage();
        for (int i = 0; i < 2; i++) {
            java.util.Map<String, Object> stats = new java.util.LinkedHashMap<>();
            stats.put("generator", "diffusion");
            stats.put("forward_passes", 3);
            stats.put("diffusion.steps", 3 + i);
            stats.put("diffusion.mean_confidence", i == 0 ? 0.5 : 0.7);
            stats.put("diffusion.converged", i == 1);
            stats.put("watermark", java.util.Map.of("z", 4.0)); // an annotation: not a scalar figure
            stats.put("image", new byte[] {1, 2});
            strategy.add(new dev.arbor.api.pipeline.Completion("p", "ab", new int[] {1}, new int[2], new double[2],
                    dev.arbor.api.generation.FinishReason.LENGTH, 1L, 2L, stats));
        }
        JsonNode arbor = OpenAiResponses.usageChunk(new Meta("cmpl-3", 10, "p", false), 1, 4, strategy)
                .get("usage").get("arbor");
        assertThat(arbor.get("forward_passes").asLong()).isEqualTo(6);
        JsonNode stats = arbor.get("stats");
        assertThat(stats.get("diffusion.steps").asLong()).isEqualTo(7);
        assertThat(stats.get("diffusion.mean_confidence").asDouble()).isCloseTo(0.6, within(1e-12));
        assertThat(stats.get("diffusion.converged").asBoolean()).isTrue();
        assertThat(stats.has("watermark")).isFalse();
        assertThat(stats.has("image")).isFalse();
        assertThat(stats.has("generator")).isFalse();
        assertThat(stats.has("forward_passes")).isFalse();
    }

    @Test
    void buildsChunksAsOpenAiStreamsThem() {
        Meta chat = new Meta("chatcmpl-1", 10, "p", true);
        JsonNode first = OpenAiResponses.chunk(chat, 0, "Once", true,
                List.of(new TokenLogprob(3, "Once", -0.25)), 1, 0, null, true);
        assertThat(first.get("object").asText()).isEqualTo("chat.completion.chunk");
        JsonNode choice = first.get("choices").get(0);
        assertThat(choice.get("delta").toString()).isEqualTo("{\"role\":\"assistant\",\"content\":\"Once\"}");
        assertThat(choice.get("finish_reason").isNull()).isTrue();
        assertThat(choice.get("logprobs").get("content").get(0).get("logprob").asDouble()).isEqualTo(-0.25);
        assertThat(choice.get("logprobs").get("content").get(0).get("top_logprobs")).hasSize(1);
        assertThat(first.get("usage").isNull()).isTrue();
        JsonNode last = OpenAiResponses.chunk(chat, 0, null, false, null, 0, 4, "stop", false);
        assertThat(last.get("choices").get(0).get("delta").toString()).isEqualTo("{}");
        assertThat(last.has("usage")).isFalse();
        JsonNode usage = OpenAiResponses.usageChunk(chat, 2, 3, new StrategyUsage());
        assertThat(usage.get("choices")).isEmpty();
        assertThat(usage.get("usage").get("total_tokens").asInt()).isEqualTo(5);
    }

    @Test
    void framesServerSentEventsAndCutsThemOffCleanly() throws Exception {
        assertThat(new String(SseStream.frame("{\"a\":1}"), StandardCharsets.UTF_8)).isEqualTo("data: {\"a\":1}\n\n");
        assertThatThrownBy(() -> SseStream.frame("a\nb")).isInstanceOf(IllegalArgumentException.class);

        ByteArrayOutputStream body = new ByteArrayOutputStream();
        SseStream stream = new SseStream(() -> body);
        JsonNode event = OpenAiResponses.MAPPER.readTree("{\"text\":\"line1\\nline2\"}");
        assertThat(stream.send(event)).isTrue();
        stream.finish();
        assertThat(body.toString(StandardCharsets.UTF_8))
                .isEqualTo("data: {\"text\":\"line1\\nline2\"}\n\ndata: [DONE]\n\n");
        assertThat(stream.send(event)).as("no event after [DONE]").isFalse();

        ByteArrayOutputStream cut = new ByteArrayOutputStream();
        SseStream started = new SseStream(() -> cut);
        started.send(event);
        assertThat(started.fail(OpenAiResponses.error(ApiError.timeout(100)))).isTrue();
        assertThat(started.send(event)).as("the worker is told to stop").isFalse();
        assertThat(cut.toString(StandardCharsets.UTF_8)).endsWith("\"code\":\"timeout\"}}\n\n")
                .doesNotContain("[DONE]");

        SseStream untouched = new SseStream(() -> {
            throw new AssertionError("a stream that failed before its first event must never open");
        });
        assertThat(untouched.fail(OpenAiResponses.error(ApiError.timeout(100)))).isFalse();
        assertThat(untouched.send(event)).isFalse();
    }

    @Test
    void exposesTheMetricNamesInPrometheusFormat() {
        ServerMetrics metrics = new ServerMetrics(MetricLabels.of(java.util.Set.of("p"), java.util.Set.of()));
        metrics.requestStarted();
        metrics.requestFinished("completions", "p", 200, 5_000_000);
        metrics.generated("p", 12, 1_000_000);
        metrics.swap("generator");
        metrics.abandoned();
        String text = metrics.scrape();
        assertThat(text).contains("arbor_http_requests_total{endpoint=\"completions\",pipeline=\"p\",status=\"200\"} 1.0")
                .contains("arbor_tokens_generated_total{pipeline=\"p\"} 12.0")
                .contains("arbor_time_to_first_token_seconds_bucket")
                .contains("arbor_http_request_duration_seconds_bucket")
                .contains("arbor_http_active_requests 0.0")
                .contains("arbor_swaps_total{kind=\"generator\"} 1.0")
                .contains("arbor_http_abandoned_workers_total 1.0");
        metrics.close();
    }

    @Test
    void labelsOnlyConfiguredPipelinesAndInstalledGenerators() {
        ServerMetrics metrics = new ServerMetrics(MetricLabels.of(java.util.Set.of("p"), java.util.Set.of("speculative")));
        for (String generator : new String[] {"speculative", "made-up"}) {
            StrategyUsage usage = new StrategyUsage();
            usage.add(new dev.arbor.api.pipeline.Completion("p", "t", new int[] {1}, new int[] {2}, null,
                    dev.arbor.api.generation.FinishReason.LENGTH, 1, 2, java.util.Map.of("generator", generator,
                    "speculative.drafted", 4, "speculative.accepted", 3, "speculative.steps", 2)));
            metrics.strategy("p", usage);
            metrics.strategy("not-configured", usage);
        }
        metrics.requestFinished("completions", "not-configured", 404, 1_000_000);
        metrics.generated("not-configured", 3, 1_000_000);
        String text = metrics.scrape();
        assertThat(text).contains("arbor_speculative_drafted_total{generator=\"speculative\",pipeline=\"p\"} 4.0")
                .contains("arbor_speculative_drafted_total{generator=\"unknown\",pipeline=\"p\"} 4.0")
                .contains("arbor_speculative_drafted_total{generator=\"unknown\",pipeline=\"unknown\"} 4.0")
                .contains("arbor_http_requests_total{endpoint=\"completions\",pipeline=\"unknown\",status=\"404\"}")
                .contains("arbor_tokens_generated_total{pipeline=\"unknown\"} 3.0")
                .doesNotContain("made-up").doesNotContain("not-configured");
        metrics.close();
    }
}
