package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.completions.CompletionUsage;
import com.openai.models.models.Model;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The official OpenAI Java client against a real {@code bin/arbor serve}: completions and chat completions,
 * streamed and not, greedy on stories260K, must give exactly the text of {@code bin/arbor generate}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OpenAiClientIT {
    private static final String PIPELINE = "stories260k";
    private static final String PROMPT = "Once upon a time";
    private static final int MAX_TOKENS = 40;
    private static final String API_KEY = "it-openai-key";
    private static final Pattern SERVING = Pattern.compile("Arbor serving http://([^:]+):(\\d+) \\(pipelines: (.*)\\)");

    private static Path dist;
    private static Path models;
    private static Process server;
    private static Path serverLog;
    private static int port;
    private static int adminPort;
    private static final String ADMIN_PASSWORD = "it-admin-secret";
    private static String expected;
    private static OpenAIClient client;

    @BeforeAll
    static void startServer() throws Exception {
        models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        dist = Path.of(System.getProperty("arbor.dist", "target/arbor")).toAbsolutePath();
        // the reference text first: it also converts the model into the installation's cache before the server
        // needs it, so two processes never convert at once
        expected = generate(PROMPT);
        assertThat(expected).as("bin/arbor generate produced text").isNotBlank();

        serverLog = Files.createTempFile("arbor-serve-", ".log");
        try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
            adminPort = free.getLocalPort();
        }
        ProcessBuilder pb = new ProcessBuilder(dist.resolve("bin/arbor").toString(), "serve", "--port", "0",
                "--request-timeout-ms", "60000", "--admin-port", Integer.toString(adminPort));
        pb.environment().put("ARBOR_MODELS", models.toString());
        pb.environment().put("ARBOR_ADMIN_PASSWORD", ADMIN_PASSWORD);
        pb.environment().put("ARBOR_API_KEY", API_KEY);
        pb.redirectError(serverLog.toFile());
        server = pb.start();
        AtomicReference<String> banner = new AtomicReference<>();
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
        banner.set(line.get(90, TimeUnit.SECONDS));
        assertThat(banner.get()).as("'arbor serve' announced its address; its log:\n%s", log()).isNotNull();
        Matcher m = SERVING.matcher(banner.get());
        assertThat(m.find()).isTrue();
        assertThat(m.group(1)).isEqualTo("127.0.0.1");
        assertThat(m.group(3)).contains(PIPELINE);
        port = Integer.parseInt(m.group(2));
        client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + port + "/v1").apiKey(API_KEY)
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
    }

    /** {@code bin/arbor generate --pipeline stories260k --temperature 0 --max-tokens N PROMPT}, its stdout's text. */
    private static String generate(String prompt) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(dist.resolve("bin/arbor").toString(), "generate", "--pipeline",
                PIPELINE, "--temperature", "0", "--max-tokens", Integer.toString(MAX_TOKENS), prompt);
        pb.environment().put("ARBOR_MODELS", models.toString());
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("bin/arbor generate exit status").isZero();
        assertThat(out).endsWith("\n");
        return out.substring(0, out.length() - 1); // the CLI ends its output with one newline
    }

    private static String log() {
        try {
            return Files.readString(serverLog);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Test
    @Order(1)
    void listsTheReadyPipelinesAsModels() {
        List<String> ids = client.models().list().data().stream().map(Model::id).toList();
        assertThat(ids).contains(PIPELINE);
    }

    @Test
    @Order(2)
    void completionGivesTheTextOfArborGenerate() {
        Completion c = client.completions().create(CompletionCreateParams.builder().model(PIPELINE).prompt(PROMPT)
                .maxTokens(MAX_TOKENS).temperature(0.0).build());
        assertThat(c.choices()).hasSize(1);
        assertThat(c.choices().get(0).text()).isEqualTo(expected);
        assertThat(c.model()).isEqualTo(PIPELINE);
        CompletionUsage usage = c.usage().orElseThrow();
        assertThat(usage.promptTokens()).isPositive();
        assertThat(usage.completionTokens()).isBetween(1L, (long) MAX_TOKENS);
        assertThat(usage.totalTokens()).isEqualTo(usage.promptTokens() + usage.completionTokens());
        assertThat(c.choices().get(0).finishReason().asString()).isIn("stop", "length");
    }

    @Test
    @Order(3)
    void streamedCompletionGivesTheSameText() {
        StringBuilder text = new StringBuilder();
        List<String> finish = new ArrayList<>();
        try (StreamResponse<Completion> stream = client.completions().createStreaming(CompletionCreateParams
                .builder().model(PIPELINE).prompt(PROMPT).maxTokens(MAX_TOKENS).temperature(0.0).build())) {
            stream.stream().forEach(chunk -> chunk.choices().forEach(choice -> {
                text.append(choice.text());
                choice._finishReason().asKnown().ifPresent(r -> finish.add(r.asString()));
            }));
        }
        assertThat(text.toString()).isEqualTo(expected);
        assertThat(finish).hasSize(1);
    }

    @Test
    @Order(4)
    void chatCompletionGivesTheSameText() {
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model(PIPELINE)
                .addUserMessage(PROMPT).maxCompletionTokens(MAX_TOKENS).temperature(0.0).build());
        assertThat(c.choices()).hasSize(1);
        assertThat(c.choices().get(0).message().content()).hasValue(expected);
        assertThat(c.usage().orElseThrow().completionTokens()).isBetween(1L, (long) MAX_TOKENS);
    }

    @Test
    @Order(5)
    void streamedChatCompletionGivesTheSameTextAndUsage() {
        StringBuilder text = new StringBuilder();
        List<CompletionUsage> usages = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
                ChatCompletionCreateParams.builder().model(PIPELINE).addUserMessage(PROMPT)
                        .maxCompletionTokens(MAX_TOKENS).temperature(0.0)
                        .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build())) {
            stream.stream().forEach(chunk -> {
                chunk.choices().forEach(choice -> choice.delta().content().ifPresent(text::append));
                chunk.usage().ifPresent(usages::add);
            });
        }
        assertThat(text.toString()).isEqualTo(expected);
        assertThat(usages).hasSize(1);
        assertThat(usages.get(0).completionTokens()).isBetween(1L, (long) MAX_TOKENS);
    }

    @Test
    @Order(6)
    void refusesAClientWithoutTheKey() {
        OpenAIClient anonymous = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + port + "/v1")
                .apiKey("wrong").maxRetries(0).build();
        assertThatThrownBy(() -> anonymous.models().list()).isInstanceOfSatisfying(UnauthorizedException.class,
                e -> assertThat(e.statusCode()).isEqualTo(401));
    }

    @Test
    @Order(7)
    void stopsCleanlyOnSigterm() throws Exception {
        server.destroy(); // SIGTERM: the launcher's shutdown hook stops the framework and with it the server
        assertThat(server.waitFor(30, TimeUnit.SECONDS)).as("arbor serve exits after SIGTERM; log:\n%s", log())
                .isTrue();
        assertThatThrownBy(() -> new Socket("127.0.0.1", port).close()).isInstanceOf(ConnectException.class);
    }

    @Test
    @Order(6)
    void serveAlsoStartsTheOperatorConsoleOnLoopbackBehindCredentials() throws Exception {
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        java.net.URI console = java.net.URI.create("http://127.0.0.1:" + adminPort + "/system/console/bundles");
        // the admin server is configured by 'serve' and starts asynchronously: give it a moment
        java.net.http.HttpResponse<String> anonymous = null;
        long deadline = System.nanoTime() + RuntimeHarness.MIN_WAIT_MILLIS * 1_000_000L;   // an event that must come
        while (anonymous == null) {
            try {
                anonymous = http.send(java.net.http.HttpRequest.newBuilder(console).build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString());
            } catch (ConnectException e) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the operator console never listened on " + adminPort + "; log:\n"
                            + log(), e);
                }
                Thread.sleep(100);
            }
        }
        assertThat(anonymous.statusCode()).isEqualTo(401);
        String basic = java.util.Base64.getEncoder().encodeToString(("admin:" + ADMIN_PASSWORD)
                .getBytes(StandardCharsets.UTF_8));
        java.net.http.HttpResponse<String> operator = http.send(java.net.http.HttpRequest.newBuilder(console)
                .header("Authorization", "Basic " + basic).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(operator.statusCode()).isEqualTo(200);
        java.net.http.HttpResponse<String> pipelines = http.send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://127.0.0.1:" + adminPort + "/admin/pipelines"))
                .header("Authorization", "Basic " + basic).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(pipelines.statusCode()).isEqualTo(200);
        assertThat(pipelines.body()).contains(PIPELINE);
    }
}
