package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.pipeline.ChatMessage;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.RenderedChat;
import dev.arbor.api.pipeline.ScoredToken;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.postprocess.PostProcessor;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Chat templates and log-probability listings at the HTTP layer: a pipeline with a template ("tmpl") is sent the
 * template's ids and reports their count as prompt_tokens; one without ("plain") gets the plain join as text; the
 * alternatives the platform reports reach the client in OpenAI's chat and legacy completions forms.
 */
class ChatTemplateHandlerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient CLIENT = HttpClient.newHttpClient();
    private static final List<CompletionRequest> REQUESTS = new CopyOnWriteArrayList<>();
    private static Server server;
    private static Workers workers;
    private static URI base;

    private static final ScoredToken HELLO = new ScoredToken(7, "Hello".getBytes(StandardCharsets.UTF_8), -0.25);
    private static final ScoredToken HI = new ScoredToken(8, "Hi".getBytes(StandardCharsets.UTF_8), -1.5);
    private static final ScoredToken HALF_CHAR = new ScoredToken(9, new byte[] {(byte) 0xe2, (byte) 0x80}, -2.0);
    private static final ScoredToken YO = new ScoredToken(10, "Yo".getBytes(StandardCharsets.UTF_8), -3.0);

    private static final PipelineService FAKE = new PipelineService() {
        @Override
        public List<PipelineStatus> pipelines() {
            return List.of(status("tmpl").orElseThrow(), status("plain").orElseThrow());
        }

        @Override
        public Optional<PipelineStatus> status(String name) {
            return List.of("tmpl", "plain").contains(name) ? Optional.of(new PipelineStatus(name, true, List.of(),
                    null)) : Optional.empty();
        }

        @Override
        public Optional<RenderedChat> renderChat(String pipeline, List<ChatMessage> messages) {
            if (!pipeline.equals("tmpl")) {
                return Optional.empty();
            }
            if (messages.stream().anyMatch(m -> m.role().equals("tool"))) {
                throw ArborException.invalid("the chat template refused the conversation: no tools here");
            }
            // BOS, one id per character, and one for the generation prompt
            int[] ids = new int[messages.get(0).content().length() + 2];
            ids[0] = 1;
            return Optional.of(new RenderedChat("<s>" + messages.get(0).content() + ">", ids, "test"));
        }

        @Override
        public Completion complete(CompletionRequest request, TextSink sink) {
            REQUESTS.add(request);
            int top = request.options().integer("top_logprobs", 0, 0, 20);
            if (request.options().bool("logprobs", false)) {
                // the chosen token is the third most likely here, as a sampled one may be
                sink.onToken("Yo", YO, List.of(HELLO, HI, HALF_CHAR).subList(0, Math.min(top, 3)));
            } else {
                sink.onText("Yo", 10, -3.0);
            }
            int[] prompt = request.inputIds() != null ? request.inputIds() : new int[] {1, 2};
            return new Completion(request.pipeline(), "Yo", prompt, new int[] {10}, new double[] {-3.0},
                    FinishReason.LENGTH, 1_000, 2_000, Map.of());
        }

        @Override
        public int[] tokenize(String pipeline, String text) {
            return new int[] {1, 2};
        }

        @Override
        public PostProcessor.Output analyze(String pipeline, String text, Options options) {
            throw new IllegalStateException("not used");
        }

        @Override
        public void define(PipelineDefinition definition) {
            throw new IllegalStateException("not used");
        }
    };

    @BeforeAll
    static void start() throws Exception {
        ServerSettings settings = ServerSettings.from(Map.of("port", 0, "max_prompt_tokens", 3, "max_tokens", 50,
                "request_timeout_ms", 10_000, "workers", 2));
        ServerMetrics metrics = new ServerMetrics(MetricLabels.of(java.util.Set.of("tmpl", "plain"),
                java.util.Set.of()));
        workers = new Workers(settings.workers(), ChatTemplateHandlerTest.class.getClassLoader(), metrics::abandoned);
        server = new Server();
        ServerConnector connector = HttpServerComponent.connector(server, settings);
        server.addConnector(connector);
        server.setHandler(new OpenAiHandler(FAKE, settings, metrics, workers));
        server.start();
        base = URI.create("http://127.0.0.1:" + connector.getLocalPort());
    }

    @AfterAll
    static void stop() throws Exception {
        server.stop();
        workers.close();
    }

    private static HttpResponse<String> post(String path, String body) throws Exception {
        return CLIENT.send(HttpRequest.newBuilder(base.resolve(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String chat(String model, String extra) {
        return "{\"model\": \"" + model + "\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]" + extra + "}";
    }

    @Test
    void aTemplatedChatIsSentAsTheTemplatesIdsAndCountsThem() throws Exception {
        REQUESTS.clear();
        HttpResponse<String> r = post("/v1/chat/completions", chat("tmpl", ""));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(REQUESTS.get(0).inputIds()).containsExactly(1, 0, 0);
        assertThat(REQUESTS.get(0).prompt()).isNull();
        assertThat(JSON.readTree(r.body()).at("/usage/prompt_tokens").asInt()).isEqualTo(3);
        // 4 rendered ids: over this server's max_prompt_tokens of 3, although the plain text would be 2 tokens
        REQUESTS.clear();
        HttpResponse<String> tooLong = post("/v1/chat/completions", chat("tmpl", "").replace("\"x\"", "\"xy\""));
        assertThat(tooLong.statusCode()).isEqualTo(400);
        assertThat(tooLong.body()).contains("the prompt has 4 tokens, more than this server's limit of 3");
        assertThat(REQUESTS).isEmpty();
    }

    @Test
    void aChatWithoutTemplateKeepsThePlainJoin() throws Exception {
        REQUESTS.clear();
        HttpResponse<String> r = post("/v1/chat/completions", "{\"model\": \"plain\", \"messages\": [{\"role\":"
                + " \"system\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}]}");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(REQUESTS).hasSize(1);
        assertThat(REQUESTS.get(0).prompt()).isEqualTo("a\n\nb");
        assertThat(REQUESTS.get(0).inputIds()).isNull();
        assertThat(JSON.readTree(r.body()).at("/usage/prompt_tokens").asInt()).isEqualTo(2);
    }

    @Test
    void aTemplatesRefusalIsA400WithItsMessage() throws Exception {
        HttpResponse<String> r = post("/v1/chat/completions", "{\"model\": \"tmpl\", \"messages\": [{\"role\":"
                + " \"tool\", \"content\": \"b\"}]}");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("no tools here");
    }

    @Test
    void chatTopLogprobsListTheReportedAlternativesWithTheirBytes() throws Exception {
        REQUESTS.clear();
        HttpResponse<String> r = post("/v1/chat/completions", chat("plain", ", \"logprobs\": true,"
                + " \"top_logprobs\": 3"));
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(REQUESTS.get(0).options().asMap()).containsEntry("logprobs", true).containsEntry("top_logprobs", 3);
        JsonNode entry = JSON.readTree(r.body()).at("/choices/0/logprobs/content/0");
        assertThat(entry.get("token").asText()).isEqualTo("Yo");
        assertThat(entry.get("logprob").asDouble()).isEqualTo(-3.0);
        assertThat(entry.get("bytes").toString()).isEqualTo("[89,111]");
        JsonNode top = entry.get("top_logprobs");
        assertThat(top.size()).isEqualTo(3); // chat lists the top ones only, as OpenAI does
        assertThat(top.get(0).get("token").asText()).isEqualTo("Hello");
        assertThat(top.get(0).get("logprob").asDouble()).isEqualTo(-0.25);
        assertThat(top.get(1).get("token").asText()).isEqualTo("Hi");
        assertThat(top.get(2).get("token").asText()).isEqualTo("bytes:\\xe2\\x80"); // part of a character
        assertThat(top.get(2).get("bytes").toString()).isEqualTo("[226,128]");
    }

    @Test
    void streamedChunksCarryTheAlternativesToo() throws Exception {
        HttpResponse<String> r = post("/v1/chat/completions", chat("plain", ", \"logprobs\": true,"
                + " \"top_logprobs\": 2, \"stream\": true"));
        List<JsonNode> entries = new ArrayList<>();
        for (String line : r.body().split("\n")) {
            if (line.startsWith("data: {")) {
                JSON.readTree(line.substring(6)).at("/choices/0/logprobs/content").forEach(entries::add);
            }
        }
        assertThat(entries).hasSize(1);
        assertThat(entries.get(0).get("top_logprobs").size()).isEqualTo(2);
        assertThat(entries.get(0).at("/top_logprobs/1/token").asText()).isEqualTo("Hi");
    }

    @Test
    void legacyCompletionsAddTheChosenTokenToTheTopOnes() throws Exception {
        HttpResponse<String> r = post("/v1/completions", "{\"model\": \"plain\", \"prompt\": \"x\", \"logprobs\": 2}");
        JsonNode lp = JSON.readTree(r.body()).at("/choices/0/logprobs");
        assertThat(lp.get("tokens").get(0).asText()).isEqualTo("Yo");
        JsonNode top = lp.get("top_logprobs").get(0);
        assertThat(top.size()).isEqualTo(3); // "up to logprobs+1": Hello, Hi and the sampled Yo
        assertThat(top.get("Hello").asDouble()).isEqualTo(-0.25);
        assertThat(top.get("Hi").asDouble()).isEqualTo(-1.5);
        assertThat(top.get("Yo").asDouble()).isEqualTo(-3.0);
    }
}
