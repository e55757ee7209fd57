package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.testkit.SharedModels;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Chat templates and real top log-probabilities through the official OpenAI Java client against {@code bin/arbor
 * serve}: the {@code stories260k-chat} pipeline's template (written in its pipeline file) is rendered, so at
 * temperature 0 the chat answer equals the completion of the prompt rendered by hand from that template, with the
 * same prompt token count; {@code top_logprobs} lists the most likely tokens of the distribution each token was
 * chosen from, equal to a log-softmax computed here from the model's own logits (the pure-Java reference model),
 * greedy and sampled, whole and streamed.
 */
class ChatTemplateIT {
    private static final String PIPELINE = "stories260k-chat";
    private static final String SYSTEM = "Tell a story.";
    private static final String USER = "Once upon a time";
    /** The template of stories260k-chat applied by hand: BOS (added by /v1/completions), then the role lines. */
    private static final String RENDERED = SYSTEM + "\nUser: " + USER + "\nAssistant:";
    private static final int MAX_TOKENS = 12;
    private static final int TOP = 5;
    private static final Pattern SERVING = Pattern.compile("Arbor serving http://([^:]+):(\\d+) \\(pipelines: (.*)\\)");
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Logits of the ONNX graph the server runs and of the Java reference model agree to about 1e-5. */
    private static final double TOL = 2e-3;

    private static Process server;
    private static Path serverLog;
    private static int port;
    private static OpenAIClient client;
    private static Llama2cReferenceModel reference;
    private static Llama2cTokenizer tokenizer;

    @BeforeAll
    static void startServer() throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        Path dist = Path.of(System.getProperty("arbor.dist", "target/arbor")).toAbsolutePath();
        reference = Llama2cReferenceModel.open(models.resolve("stories260K/stories260K.bin"));
        tokenizer = Llama2cTokenizer.read(models.resolve("stories260K/tok512.bin"), reference.card().vocabSize());
        serverLog = Files.createTempFile("arbor-serve-chat-", ".log");
        int adminPort;
        try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
            adminPort = free.getLocalPort();
        }
        ProcessBuilder pb = new ProcessBuilder(dist.resolve("bin/arbor").toString(), "serve", "--port", "0",
                "--request-timeout-ms", "120000", "--admin-port", Integer.toString(adminPort));
        pb.environment().put("ARBOR_MODELS", models.toString());
        pb.environment().put("ARBOR_ADMIN_PASSWORD", "it-chat-admin");
        pb.environment().remove("ARBOR_API_KEY");
        pb.redirectError(serverLog.toFile());
        server = pb.start();
        CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
            try {
                BufferedReader out = new BufferedReader(new InputStreamReader(server.getInputStream(),
                        StandardCharsets.UTF_8));
                for (String l; (l = out.readLine()) != null; ) {
                    if (SERVING.matcher(l).find()) {
                        return l;
                    }
                }
                return null;
            } catch (IOException e) {
                return null;
            }
        });
        String banner = line.get(120, TimeUnit.SECONDS);
        assertThat(banner).as("'arbor serve' announced its address; its log:\n%s", log()).isNotNull();
        Matcher m = SERVING.matcher(banner);
        assertThat(m.find()).isTrue();
        assertThat(m.group(3)).contains(PIPELINE);
        port = Integer.parseInt(m.group(2));
        client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + port + "/v1").apiKey("none")
                .maxRetries(0).build();
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (server != null && server.isAlive()) {
            server.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        if (serverLog != null) {
            Files.deleteIfExists(serverLog);
        }
        if (reference != null) {
            reference.close();
        }
    }

    private static String log() {
        try {
            return Files.readString(serverLog);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    private static ChatCompletionCreateParams.Builder chat() {
        // the template strips the user's text (Python's str.strip inside the Jinja template)
        return ChatCompletionCreateParams.builder().model(PIPELINE).addSystemMessage(SYSTEM)
                .addUserMessage("  " + USER + " \n").maxCompletionTokens(MAX_TOKENS);
    }

    private static Completion complete(String prompt) {
        return client.completions().create(CompletionCreateParams.builder().model(PIPELINE).prompt(prompt)
                .maxTokens(MAX_TOKENS).temperature(0.0).build());
    }

    @Test
    void theChatCallRendersThePipelinesTemplate() {
        ChatCompletion c = client.chat().completions().create(chat().temperature(0.0).build());
        Completion byHand = complete(RENDERED);
        assertThat(c.choices().get(0).message().content()).hasValue(byHand.choices().get(0).text());
        long promptTokens = c.usage().orElseThrow().promptTokens();
        assertThat(promptTokens).isEqualTo(byHand.usage().orElseThrow().promptTokens());
        // BOS plus the hand-rendered text, as this test's own tokenizer counts it
        assertThat(promptTokens).isEqualTo(tokenizer.encode(RENDERED, true).length);
        // and not what the plain join (pipelines without a template) would have sent
        assertThat(promptTokens).isNotEqualTo(complete(SYSTEM + "\n\n" + USER).usage().orElseThrow().promptTokens());
    }

    @Test
    void aTemplateThatRefusesTheConversationAnswers400WithItsMessage() throws Exception {
        HttpResponse<String> r = post("/v1/chat/completions", "{\"model\": \"" + PIPELINE + "\", \"messages\":"
                + " [{\"role\": \"tool\", \"content\": \"x\"}], \"max_tokens\": 2}");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("stories260k-chat takes system, user and assistant messages only, not tool");
    }

    @Test
    void greedyTopLogprobsAreTheSoftmaxOfTheModelsLogits() {
        ChatCompletion c = client.chat().completions().create(chat().temperature(0.0).logprobs(true)
                .topLogprobs(TOP).build());
        checkAgainstModel(c.choices().get(0).logprobs().orElseThrow().content().orElseThrow(), 1.0, true);
    }

    @Test
    void sampledTopLogprobsAreTheSoftmaxOfTheProcessedLogits() {
        // temperature 0.7 is the one processor left acting (top_p 1, no top-k, repetition penalty 1)
        ChatCompletion c = client.chat().completions().create(chat().temperature(0.7).topP(1.0).seed(7L)
                .logprobs(true).topLogprobs(TOP).build());
        checkAgainstModel(c.choices().get(0).logprobs().orElseThrow().content().orElseThrow(), 0.7, false);
    }

    /**
     * Replays the answer through the reference model: at each position the listed alternatives must be the
     * {@value #TOP} largest entries of log_softmax(logits / temperature), sorted, with the chosen token's value
     * among them when greedy; the chosen token's bytes and text are its vocabulary bytes.
     */
    private static void checkAgainstModel(List<ChatCompletionTokenLogprob> tokens, double temperature,
                                          boolean greedy) {
        assertThat(tokens).isNotEmpty();
        List<Integer> context = new ArrayList<>();
        for (int id : tokenizer.encode(RENDERED, true)) {
            context.add(id);
        }
        for (ChatCompletionTokenLogprob t : tokens) {
            float[] logits = reference.forward(ForwardRequest.builder(new int[][] {
                    context.stream().mapToInt(Integer::intValue).toArray()}).build()).logits(0, context.size() - 1);
            double[] lp = logSoftmax(logits, temperature);
            double[] sorted = lp.clone();
            Arrays.sort(sorted);
            double kth = sorted[sorted.length - TOP];
            assertThat(t.topLogprobs()).hasSize(TOP);
            double previous = Double.POSITIVE_INFINITY;
            for (var alt : t.topLogprobs()) {
                int id = idOf(alt.bytes().orElseThrow(), alt.logprob(), lp);
                assertThat(alt.logprob()).as("alternative %s", alt.token()).isCloseTo(lp[id],
                        org.assertj.core.data.Offset.offset(TOL));
                assertThat(lp[id]).as("alternative %s is among the top %d", alt.token(), TOP)
                        .isGreaterThanOrEqualTo(kth - TOL);
                assertThat(alt.logprob()).isLessThanOrEqualTo(previous);
                previous = alt.logprob();
            }
            int chosen = idOf(t.bytes().orElseThrow(), t.logprob(), lp);
            assertThat(t.logprob()).isCloseTo(lp[chosen], org.assertj.core.data.Offset.offset(TOL));
            assertThat(t.token()).isEqualTo(new String(tokenizer.tokenBytes(chosen), StandardCharsets.UTF_8));
            if (greedy) {
                // the argmax is the first alternative
                assertThat(t.topLogprobs().get(0).logprob()).isEqualTo(t.logprob());
                assertThat(lp[chosen]).isGreaterThanOrEqualTo(sorted[sorted.length - 1] - TOL);
            }
            context.add(chosen);
        }
    }

    /** The id whose vocabulary bytes are {@code bytes} and whose log-probability is {@code logprob}. */
    private static int idOf(List<Long> bytes, double logprob, double[] lp) {
        byte[] b = new byte[bytes.size()];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) bytes.get(i).longValue();
        }
        int best = -1;
        for (int id = 0; id < lp.length; id++) {
            if (Arrays.equals(tokenizer.tokenBytes(id), b)
                    && (best < 0 || Math.abs(lp[id] - logprob) < Math.abs(lp[best] - logprob))) {
                best = id;
            }
        }
        assertThat(best).as("a token with bytes %s", bytes).isNotNegative();
        return best;
    }

    private static double[] logSoftmax(float[] logits, double temperature) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v / temperature);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v / temperature - max);
        }
        double[] out = new double[logits.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = logits[i] / temperature - max - Math.log(sum);
        }
        return out;
    }

    @Test
    void streamedChunksCarryTheSameAlternatives() throws Exception {
        String body = "{\"model\": \"" + PIPELINE + "\", \"messages\": [{\"role\": \"system\", \"content\": \""
                + SYSTEM + "\"}, {\"role\": \"user\", \"content\": \"" + USER + "\"}], \"max_tokens\": " + MAX_TOKENS
                + ", \"temperature\": 0, \"logprobs\": true, \"top_logprobs\": " + TOP + "%s}";
        JsonNode whole = JSON.readTree(post("/v1/chat/completions", String.format(body, "")).body());
        JsonNode expected = whole.at("/choices/0/logprobs/content");
        List<JsonNode> streamed = new ArrayList<>();
        for (String line : post("/v1/chat/completions", String.format(body, ", \"stream\": true")).body()
                .split("\n")) {
            if (line.startsWith("data: {")) {
                JsonNode content = JSON.readTree(line.substring(6)).at("/choices/0/logprobs/content");
                content.forEach(streamed::add);
            }
        }
        assertThat(streamed).hasSize(expected.size());
        for (int i = 0; i < streamed.size(); i++) {
            assertThat(streamed.get(i)).isEqualTo(expected.get(i));
        }
    }

    @Test
    void legacyCompletionLogprobsListTheTopTokensAndTheChosenOne() throws Exception {
        JsonNode r = JSON.readTree(post("/v1/completions", "{\"model\": \"" + PIPELINE + "\", \"prompt\": \""
                + USER + "\", \"max_tokens\": " + MAX_TOKENS + ", \"temperature\": 1.0, \"top_p\": 1.0,"
                + " \"seed\": 3, \"logprobs\": 2}").body());
        JsonNode lp = r.at("/choices/0/logprobs");
        assertThat(lp.get("tokens").size()).isPositive();
        for (int i = 0; i < lp.get("tokens").size(); i++) {
            JsonNode top = lp.get("top_logprobs").get(i);
            String token = lp.get("tokens").get(i).asText();
            // the two most likely, plus the sampled token when it is not one of them ("up to logprobs+1")
            assertThat(top.size()).isBetween(2, 3);
            assertThat(top.has(token)).isTrue();
            assertThat(top.get(token).asDouble()).isEqualTo(lp.get("token_logprobs").get(i).asDouble());
        }
    }

    /**
     * Tokens a speculative loop accepts carry the target row's alternatives: greedy speculative decoding on the same
     * model lists what plain greedy decoding lists (before, its accepted tokens listed only themselves).
     */
    @Test
    void speculativeGreedyListsTheSameAlternativesAsAutoregressiveGreedy() throws Exception {
        String body = "{\"model\": \"%s\", \"prompt\": \"" + USER + "\", \"max_tokens\": " + MAX_TOKENS
                + ", \"temperature\": 0, \"logprobs\": 4}";
        JsonNode plain = JSON.readTree(post("/v1/completions", String.format(body, "stories260k")).body())
                .at("/choices/0/logprobs");
        JsonNode speculative = JSON.readTree(post("/v1/completions", String.format(body,
                "stories260k-speculative")).body()).at("/choices/0/logprobs");
        assertThat(speculative.get("tokens")).isEqualTo(plain.get("tokens"));
        assertThat(plain.get("tokens").size()).isPositive();
        for (int i = 0; i < plain.get("tokens").size(); i++) {
            JsonNode expected = plain.get("top_logprobs").get(i);
            JsonNode actual = speculative.get("top_logprobs").get(i);
            assertThat(actual.size()).as("position %d: %s", i, actual).isGreaterThanOrEqualTo(4);
            List<String> names = new ArrayList<>();
            expected.fieldNames().forEachRemaining(names::add);
            for (String name : names) {
                assertThat(actual.has(name)).as("position %d lists %s: %s", i, name, actual).isTrue();
                assertThat(actual.get(name).asDouble()).isCloseTo(expected.get(name).asDouble(), within(1e-3));
            }
        }
    }

    private static HttpResponse<String> post(String path, String body) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
