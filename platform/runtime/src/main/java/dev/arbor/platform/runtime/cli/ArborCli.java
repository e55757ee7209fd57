package dev.arbor.platform.runtime.cli;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.pipeline.TokenizerRef;
import dev.arbor.platform.runtime.internal.PartRegistry;
import dev.arbor.platform.runtime.internal.PipelineJson;
import dev.arbor.platform.runtime.internal.PipelineServiceImpl;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Hashtable;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The {@code arbor} command line, run inside the framework. The launcher finds it as a
 * {@code Function<String[], Integer>} service (a JDK type, so the launcher needs no Arbor classes) with
 * {@code arbor.command=cli}, passes the arguments and exits with the returned status.
 */
@Component(service = Function.class, property = "arbor.command=cli")
public class ArborCli implements Function<String[], Integer> {
    static final int EXIT_INVALID = 2;
    static final int EXIT_UNAVAILABLE = 3;
    static final int EXIT_NOT_FOUND = 4;

    @Reference
    private PipelineService pipelines;

    @Reference
    private ConfigurationAdmin configurationAdmin;

    private BundleContext context;
    /** Released when the framework stops this component: 'serve' returns then. */
    private final CountDownLatch stopped = new CountDownLatch(1);

    @Activate
    void activate(BundleContext context) {
        this.context = context;
    }

    @Deactivate
    void deactivate() {
        stopped.countDown();
    }

    @Override
    public Integer apply(String[] args) {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true,
                StandardCharsets.UTF_8);
        return run(args, out, System.err);
    }

    /** Runs the command line with explicit streams (tests). */
    public int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine cli = new CommandLine(new Root());
        cli.addSubcommand("generate", new Generate(out, err));
        cli.addSubcommand("image", new ImageCommand(pipelines, this::awaitReady, out, err));
        cli.addSubcommand("pipelines", new Pipelines(out));
        cli.addSubcommand("prognostics", PrognosticsCommand.create(context, startupTimeoutMillis(), out));
        cli.addSubcommand("bundles", new Bundles(out));
        cli.addSubcommand("trust", TrustCommand.create(context, out));
        cli.addSubcommand("version", new VersionInfo(out));
        cli.addSubcommand("serve", new Serve(out));
        cli.addSubcommand("watermark", new CommandLine(new Watermark()).addSubcommand("detect", new Detect(out)));
        cli.setOut(new java.io.PrintWriter(out, true));
        cli.setErr(new java.io.PrintWriter(err, true));
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof ArborException a) {
                err.println("arbor: " + a.getMessage());
                return switch (a.kind()) {
                    case INVALID_INPUT, INCOMPATIBLE -> EXIT_INVALID;
                    case UNAVAILABLE -> EXIT_UNAVAILABLE;
                    case NOT_FOUND -> EXIT_NOT_FOUND;
                    default -> 1;
                };
            }
            if (e instanceof java.io.IOException || e instanceof java.io.UncheckedIOException) {
                err.println("arbor: " + e.getMessage() + " (" + e.getClass().getSimpleName() + ")");
                return 1; // a file or stream problem is the user's to fix: one line, no stack trace
            }
            throw e;
        });
        return cli.execute(args);
    }

    @Command(name = "arbor", mixinStandardHelpOptions = true, version = "Arbor 0.1.0",
            description = "Composable generative decoding on OSGi.")
    static final class Root implements Runnable {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public void run() {
            spec.commandLine().usage(spec.commandLine().getOut());
        }
    }

    private String defaultPipeline() {
        String p = context.getProperty("arbor.default.pipeline");
        // arbor-tiny ships inside the installation (models/trained), so a fresh clone generates with nothing else.
        return p == null ? "arbor-tiny" : p;
    }

    private long startupTimeoutMillis() {
        String t = context.getProperty("arbor.startup.timeout.ms");
        return t == null ? 8_000 : Long.parseLong(t);
    }

    /** Waits until {@code name} is configured and ready (bundles and configurations start asynchronously). */
    private PipelineStatus awaitReady(String name) {
        // Services register while bundles start, before this runs; what may still be on its way is the
        // configuration (Config Admin delivers asynchronously) and bundles dropped into deploy/.
        long begin = System.nanoTime();
        long deadline = begin + startupTimeoutMillis() * 1_000_000L;
        long unknownDeadline = begin + Math.min(startupTimeoutMillis(), 3_000) * 1_000_000L;
        PipelineStatus status = null;
        while (System.nanoTime() < deadline) {
            status = pipelines.status(name).orElse(null);
            if (status != null && status.ready()) {
                return status;
            }
            if (status == null && System.nanoTime() > unknownDeadline) {
                break;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (status == null) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "unknown pipeline '" + name
                    + "'; configured pipelines: " + pipelines.pipelines().stream().map(PipelineStatus::name)
                    .collect(Collectors.joining(", ")) + " (see 'arbor pipelines')");
        }
        return status;
    }

    @Command(name = "generate", mixinStandardHelpOptions = true,
            description = "Generate text from a prompt, streaming it to stdout.")
    final class Generate implements Callable<Integer> {
        private final PrintStream out;
        private final PrintStream err;

        @Option(names = "--pipeline", description = "Pipeline name (default: the framework property"
                + " arbor.default.pipeline, else arbor-tiny).")
        String pipeline;
        @Option(names = "--model", description = "Run a model file directly (.bin = llama2.c, .onnx = ONNX decoder).")
        Path model;
        @Option(names = "--tokenizer", description = "Tokenizer file for --model (default: found next to the model).")
        Path tokenizer;
        @Option(names = "--max-tokens", description = "Most tokens to generate.")
        Integer maxTokens;
        @Option(names = "--temperature", description = "Sampling temperature; 0 = greedy.")
        Double temperature;
        @Option(names = "--top-p", description = "Nucleus sampling mass.")
        Double topP;
        @Option(names = "--top-k", description = "Keep the k most likely tokens.")
        Integer topK;
        @Option(names = "--seed", description = "Seed of the request's RNG (same seed, same output).")
        Long seed;
        @Option(names = "--stop", description = "Stop string (repeatable).")
        List<String> stop = new ArrayList<>();
        @Option(names = "--input-ids", split = ",", description = "Prompt as token ids, e.g. 1,2,3 (no text).")
        int[] inputIds;
        @Option(names = "--print-ids", description = "Print the generated token ids after the text.")
        boolean printIds;
        @Option(names = "--beams", description = "Beam search with N beams.")
        Integer beams;
        @Option(names = "--strategy", description = "Decoding strategy (generator part) for this request.")
        String strategy;
        @Option(names = "--no-cache", description = "Cache-free reference path (full recompute every step).")
        boolean noCache;
        @Option(names = "--option", description = "Extra option key=value (repeatable). With --model, model keys "
                + "(precision=fp32|int8|int4, graph=reference|fused, device, batching, ...) configure the model.")
        Map<String, String> extra = new LinkedHashMap<>();
        @Option(names = "--stats", description = "Print timing and finish reason to stderr.")
        boolean stats;
        @Option(names = "--stream-canvas", description = "Diffusion strategies: print each step's canvas to stderr.")
        boolean streamCanvas;
        @Option(names = "--processors", split = ",", paramLabel = "NAME",
                description = "The request's logits processor chain, e.g. temperature,top-k (replaces the"
                        + " pipeline's; each must be allowed by its policy, as HTTP's arbor.processors).")
        List<String> processorNames;
        @CommandLine.ArgGroup(exclusive = true, multiplicity = "0..1")
        StructuredOutputOptions structured;
        @Parameters(arity = "0..1", description = "Prompt text.")
        String prompt;

        Generate(PrintStream out, PrintStream err) {
            this.out = out;
            this.err = err;
        }

        @Override
        public Integer call() {
            String requested = pipeline != null ? pipeline : defaultPipeline();
            ModelOptionKeys.Split split = ModelOptionKeys.split(extra, model != null, requested);
            String name = model != null ? definePipelineForModel(split.model()) : requested;
            PipelineStatus status = awaitReady(name);
            if (!status.ready()) {
                err.println("arbor: pipeline '" + name + "' " + status.describe());
                return EXIT_UNAVAILABLE;
            }
            Map<String, Object> options = new LinkedHashMap<>(split.request());
            put(options, "max_tokens", maxTokens);
            put(options, "temperature", temperature);
            put(options, "top_p", topP);
            put(options, "top_k", topK);
            put(options, "seed", seed);
            PartRef generator = null;
            if (beams != null) {
                options.put("num_beams", beams);
                generator = PartRef.of("beam-search");
            }
            if (strategy != null) {
                generator = PipelineJson.parsePart(strategy);
            }
            if (noCache) {
                options.put("use_cache", false);
            }
            if (inputIds == null && prompt == null) {
                prompt = "";
            }
            if (inputIds != null && prompt != null) {
                throw ArborException.invalid("give either a prompt or --input-ids, not both");
            }
            List<PartRef> processors = ProcessorsOption.chain(processorNames, structured, status.definition(),
                    maxTokens, System.in);
            CompletionRequest request = new CompletionRequest(name, inputIds == null ? prompt : null, inputIds,
                    stop, generator, processors, Options.of(options));
            if (streamCanvas) {
                options.put("stream_canvas", true);
                request = new CompletionRequest(name, request.prompt(), inputIds, stop, generator, processors,
                        Options.of(options));
            }
            Completion c = pipelines.complete(request, new TextSink() {
                @Override
                public boolean onText(String delta, int token) {
                    out.print(delta);
                    out.flush();
                    return true;
                }

                @Override
                public void onCanvas(String text, int step) {
                    err.println("[step " + step + "] " + text);
                }
            });
            out.println();
            if (printIds) {
                out.println(Arrays.stream(c.tokens()).mapToObj(Integer::toString)
                        .collect(Collectors.joining(",")));
            }
            if (stats) {
                double seconds = c.totalNanos() / 1e9;
                err.printf("[%s] %d prompt + %d generated tokens, finish=%s, ttft=%.1f ms, %.1f tokens/s, %s%n",
                        c.pipeline(), c.promptTokens().length, c.tokens().length, c.finishReason().wireName(),
                        c.timeToFirstTokenNanos() / 1e6, c.tokens().length / Math.max(seconds, 1e-9), c.stats());
            }
            return 0;
        }

        private String definePipelineForModel(Map<String, Object> modelOptions) {
            if (!Files.exists(model)) {
                throw ArborException.invalid("model file " + model + " does not exist");
            }
            String file = model.getFileName().toString();
            String format = file.endsWith(".onnx") ? "onnx" : "llama2c";
            Path tok = tokenizer != null ? tokenizer : findTokenizer(model.toAbsolutePath().getParent(), format);
            String tokFormat = tok.getFileName().toString().endsWith(".json") ? "huggingface" : "llama2c";
            // Model options change the loaded network, so they are part of the ad-hoc pipeline's identity.
            String name = "model:" + file + (modelOptions.isEmpty() ? "" : ":" + modelOptions.entrySet().stream()
                    .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(",")));
            PipelineDefinition base = pipelines.status(defaultPipeline()).map(PipelineStatus::definition)
                    .orElse(null);
            pipelines.define(new PipelineDefinition(name, "ad-hoc pipeline for " + model,
                    new ModelRef("onnxruntime", format, model.toAbsolutePath().toString(), Options.of(modelOptions)),
                    new TokenizerRef(tokFormat, tok.toAbsolutePath().toString(), Options.empty()),
                    PartRef.of("autoregressive"),
                    base != null ? base.processors() : List.of(PartRef.of("temperature"), PartRef.of("top-k"),
                            PartRef.of("top-p")),
                    PartRef.of("sample"), List.of(), base != null ? base.defaults() : Options.empty(),
                    base != null ? base.overrides() : null));
            return name;
        }

        private Path findTokenizer(Path folder, String format) {
            for (String candidate : List.of("tokenizer.json", "tokenizer.bin", "tok512.bin")) {
                Path p = folder.resolve(candidate);
                if (Files.exists(p)) {
                    return p;
                }
            }
            try (var files = Files.list(folder)) {
                return files.filter(p -> p.getFileName().toString().matches("tok.*\\.bin")).findFirst()
                        .orElseThrow(() -> ArborException.invalid("no tokenizer found next to " + model
                                + "; give one with --tokenizer"));
            } catch (java.io.IOException e) {
                throw ArborException.invalid("cannot look for a tokenizer in " + folder + ": " + e.getMessage());
            }
        }
    }

    private static void put(Map<String, Object> map, String key, Object value) {
        if (value != null) {
            map.put(key, value);
        }
    }

    @Command(name = "pipelines", mixinStandardHelpOptions = true,
            description = "List pipelines and whether they are ready (and if not, why).")
    final class Pipelines implements Callable<Integer> {
        private final PrintStream out;

        Pipelines(PrintStream out) {
            this.out = out;
        }

        @Override
        public Integer call() {
            // give configuration a moment to arrive: pipelines load asynchronously at startup
            awaitSettled();
            List<PipelineStatus> all = pipelines.pipelines();
            if (all.isEmpty()) {
                out.println("no pipelines configured (put pipeline files in etc/pipelines/)");
            }
            for (PipelineStatus s : all) {
                out.printf("%-20s %s%n", s.name(), s.describe());
                if (s.definition() != null) {
                    PipelineDefinition d = s.definition();
                    out.printf("%-20s   model %s (%s via %s), generator %s, processors %s, selector %s%n", "",
                            d.model().path(), d.model().format(), d.model().backend(), d.generator(),
                            d.processors(), d.selector());
                }
            }
            return 0;
        }
    }

    private void awaitSettled() {
        long deadline = System.nanoTime() + Math.min(startupTimeoutMillis(), 3_000) * 1_000_000L;
        while (System.nanoTime() < deadline) {
            if (PipelinesSettled.settled(pipelines.pipelines(), configurationAdmin,
                    context.getProperty("arbor.deploy"))) {
                return;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Command(name = "bundles", mixinStandardHelpOptions = true,
            description = "List installed bundles and the pipeline parts they provide; why a bundle stays installed"
                    + " (not resolved); and the files of deploy/ not installed, with the reason (as /admin/bundles).")
    final class Bundles implements Callable<Integer> {
        private final PrintStream out;

        Bundles(PrintStream out) {
            this.out = out;
        }

        @Override
        public Integer call() throws InterruptedException {
            awaitSettled();
            Map<String, List<String>> partsByBundle = new LinkedHashMap<>();
            if (pipelines instanceof PipelineServiceImpl impl) {
                for (PartRegistry.PartInfo p : impl.parts().list()) {
                    partsByBundle.computeIfAbsent(p.bundle(), b -> new ArrayList<>())
                            .add(PartListing.describe(p));
                }
            }
            BundleDiagnostics diagnostics = BundleDiagnostics.of(context); // null without the deploy bundle
            List<String[]> refused = diagnostics == null ? List.of() : diagnostics.refused(startupTimeoutMillis());
            for (Bundle b : context.getBundles()) {
                String key = b.getSymbolicName() + " " + b.getVersion();
                out.printf("%3d %-10s %-45s %s%n", b.getBundleId(), state(b.getState()), b.getSymbolicName(),
                        b.getVersion());
                for (String part : partsByBundle.getOrDefault(key, List.of())) {
                    out.printf("    %-10s provides %s%n", "", part);
                }
                String reason = diagnostics == null ? null : diagnostics.reason(b);
                if (reason != null) {
                    out.printf("    %-10s %s%n", "", reason);
                }
            }
            for (String[] r : refused) {
                out.printf("  - %-10s %s: %s%n", "refused", r[0], r[1]);
            }
            return 0;
        }
    }

    @Command(name = "version", mixinStandardHelpOptions = true,
            description = "Prints Arbor's version and every package the API bundle exports (dev.arbor.api.*,"
                    + " dev.arbor.backend.support) in this installation, at the versions a plugin's Import-Package"
                    + " must accept.")
    final class VersionInfo implements Callable<Integer> {
        private final PrintStream out;

        VersionInfo(PrintStream out) {
            this.out = out;
        }

        @Override
        public Integer call() {
            out.println("Arbor " + context.getBundle().getVersion());
            out.println("API packages:");
            ApiPackages.lines(ApiPackages.of(context)).forEach(l -> out.println("  " + l));
            return 0;
        }
    }

    @Command(name = "watermark", mixinStandardHelpOptions = true,
            description = "Watermark tools (the scheme and key come from the pipeline's configuration).")
    static final class Watermark implements Runnable {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public void run() {
            spec.commandLine().usage(spec.commandLine().getOut());
        }
    }

    @Command(name = "detect", mixinStandardHelpOptions = true,
            description = {"Check a text, or with --image a PNG, for the watermark of a pipeline: runs the pipeline's"
                    + " detector post-processors over the text's tokens (the image's codes, re-tokenized with the"
                    + " pipeline's image tokenizer) and prints their report.",
                    "Exit status: 0 = not detected, 10 = detected."})
    final class Detect implements Callable<Integer> {
        static final int EXIT_DETECTED = 10;
        private final PrintStream out;

        @Option(names = "--pipeline", required = true, description = "Pipeline whose watermark scheme to check.")
        String pipeline;
        @Option(names = "--key-id", description = "Refuse unless the pipeline's key has this id (as reports show it).")
        String keyId;
        @Option(names = "--image", description = "PNG file to check instead of a text ('-': standard input); the"
                + " pipeline must have an image tokenizer.")
        Path image;
        @Parameters(arity = "0..1", description = "File with the text; '-' or none: standard input.")
        Path file;

        Detect(PrintStream out) {
            this.out = out;
        }

        @Override
        public Integer call() throws Exception {
            if (image != null && file != null) {
                throw ArborException.invalid("give either a text file or --image, not both");
            }
            String text = image == null ? CliFiles.readText(file, "text", System.in) : null;
            byte[] png = image == null ? null : CliFiles.readBytes(image, "image", System.in);
            awaitReady(pipeline);
            Map<String, Object> options = new LinkedHashMap<>();
            put(options, "key_id", keyId);
            var output = png == null ? pipelines.analyze(pipeline, text, Options.of(options))
                    : pipelines.analyzeImage(pipeline, png, Options.of(options));
            out.println(new com.fasterxml.jackson.databind.ObjectMapper().writerWithDefaultPrettyPrinter()
                    .writeValueAsString(output.annotations()));
            boolean detected = output.annotations().values().stream().anyMatch(v -> v instanceof Map<?, ?> m
                    && Boolean.TRUE.equals(m.get("detected")));
            return detected ? EXIT_DETECTED : 0;
        }
    }

    /** The HTTP server's configuration PID and the service it registers once listening (names: no class needed). */
    static final String HTTP_PID = "dev.arbor.http";
    static final String HTTP_ENDPOINT = "dev.arbor.platform.http.HttpEndpoint";
    /** The service the gRPC server of the Open Inference Protocol registers once listening (bundle oip). */
    static final String GRPC_ENDPOINT = "dev.arbor.platform.oip.server.GrpcEndpoint";
    /** The operator surface's configuration PID (bundle dev.arbor.platform.admin). */
    static final String ADMIN_PID = "dev.arbor.admin";

    @Command(name = "serve", mixinStandardHelpOptions = true,
            description = {"Serve the OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions,"
                    + " /v1/images/generations), the Open Inference Protocol (KServe v2: /v2/health/live,"
                    + " /v2/health/ready, /v2/models/{name}[/ready|/infer]; gRPC with --grpc-port) and Prometheus"
                    + " metrics (/metrics) until stopped (Ctrl-C or SIGTERM; readiness turns false first, then new"
                    + " requests get 503 after --drain-delay-ms while running ones finish).",
                    "The API key comes from --api-key-file or the environment variable ARBOR_API_KEY; without one"
                            + " the API is open to anyone who can reach the host."})
    final class Serve implements Callable<Integer> {
        private final PrintStream out;

        @Option(names = "--host", description = "Interface to listen on (default: ${DEFAULT-VALUE}).")
        String host = "127.0.0.1";
        @Option(names = "--port", description = "Port to listen on; 0 = any free port (default: ${DEFAULT-VALUE}).")
        int port = 8080;
        @Option(names = "--api-key-file", description = "File whose first line is the Bearer API key ('-': standard"
                + " input).")
        Path apiKeyFile;
        @Option(names = "--max-tokens", description = "Largest max_tokens a request may ask for (default 4096).")
        Integer maxTokens;
        @Option(names = "--max-prompt-tokens", description = "Most prompt tokens per request (default: the context).")
        Integer maxPromptTokens;
        @Option(names = "--max-beams", description = "Most beams a request may ask for (default 16).")
        Integer maxBeams;
        @Option(names = "--max-beam-tokens", description = "Most num_beams x max_tokens (default 16384).")
        Integer maxBeamTokens;
        @Option(names = "--max-draft-tokens", description = "Most tokens drafted or verified per step: lookahead,"
                + " max_nodes, verify_batch_size, window (default 64).")
        Integer maxDraftTokens;
        @Option(names = "--max-canvas-work", description = "Most diffusion canvas positions x steps (default 262144).")
        Integer maxCanvasWork;
        @Option(names = "--max-prompt-bytes", description = "Largest prompt in UTF-8 bytes, refused before tokenizing"
                + " (default: 256 x --max-prompt-tokens when that is set).")
        Long maxPromptBytes;
        @Option(names = "--max-images", description = "Most images one /v1/images/generations request may ask for"
                + " (its n; default 16).")
        Integer maxImages;
        @Option(names = "--max-constraint-bytes", description = "Largest structured-output constraint a request may"
                + " send (response_format JSON schema, arbor.regex, arbor.grammar; default 65536).")
        Long maxConstraintBytes;
        @Option(names = "--max-body-bytes", description = "Largest request body (default 1 MiB).")
        Long maxBodyBytes;
        @Option(names = "--request-timeout-ms", description = "Deadline of one request (default 120000).")
        Long requestTimeoutMillis;
        @Option(names = "--workers", description = "Generations running at once (default 64; batching backends "
                + "run their decode steps together, one batched run at a time).")
        Integer workers;
        @Option(names = "--body-timeout-ms", description = "Time a client has to send a request body (default 30000).")
        Long bodyTimeoutMillis;
        @Option(names = "--shutdown-grace-ms", description = "On stop, time running requests get to finish while new"
                + " ones are answered 503 (default 10000).")
        Long shutdownGraceMillis;
        @Option(names = "--grpc-port", description = "Also serve the Open Inference Protocol over gRPC"
                + " (inference.GRPCInferenceService) on this port, on the same host; 0 = any free port (default: no"
                + " gRPC server).")
        Integer grpcPort;
        @Option(names = "--drain-delay-ms", description = "On stop, time between readiness turning false"
                + " (/v2/health/ready, gRPC ServerReady) and new requests being refused with 503 (default 500;"
                + " behind Kubernetes a few seconds, so that endpoints drop the replica first).")
        Long drainDelayMillis;
        @Option(names = "--admin-port", description = "Port of the operator console and admin REST API, always on"
                + " 127.0.0.1 (default: ${DEFAULT-VALUE}); credentials from ARBOR_ADMIN_PASSWORD or etc/admin.json,"
                + " else generated into etc/admin-password.")
        int adminPort = 8081;
        @Option(names = "--no-admin", description = "Do not start the operator console and admin REST API.")
        boolean noAdmin;
        @Option(names = "--expose-models", description = "Also serve each model of the model registry (etc/models)"
                + " forward by forward over the Open Inference Protocol (platform arbor-forward, its gRPC port), for"
                + " the remote backend of other Arbor processes.")
        boolean exposeModels;

        Serve(PrintStream out) {
            this.out = out;
        }

        @Override
        public Integer call() throws Exception {
            if (exposeModels && grpcPort == null) {
                throw ArborException.invalid("--expose-models serves the models over gRPC, which the remote backend"
                        + " speaks: give --grpc-port too (0 = any free port)");
            }
            Hashtable<String, Object> props = new Hashtable<>();
            props.put("host", host);
            props.put("port", port);
            String key = apiKey();
            if (!key.isEmpty()) {
                // Config Admin persists this configuration in the framework storage: only a salted hash goes there
                props.put("api_key_hash", ApiKeyHashing.hash(key));
            }
            putIfSet(props, "max_tokens", maxTokens);
            putIfSet(props, "max_prompt_tokens", maxPromptTokens);
            putIfSet(props, "max_prompt_bytes", maxPromptBytes);
            putIfSet(props, "max_body_bytes", maxBodyBytes);
            putIfSet(props, "max_images", maxImages);
            putIfSet(props, "max_constraint_bytes", maxConstraintBytes);
            putIfSet(props, "request_timeout_ms", requestTimeoutMillis);
            putIfSet(props, "workers", workers);
            putIfSet(props, "body_timeout_ms", bodyTimeoutMillis);
            putIfSet(props, "shutdown_grace_ms", shutdownGraceMillis);
            putIfSet(props, "grpc_port", grpcPort);
            putIfSet(props, "drain_delay_ms", drainDelayMillis);
            CostLimitOptions.apply(maxBeams, maxBeamTokens, maxDraftTokens, maxCanvasWork);
            Configuration config = configurationAdmin.getConfiguration(HTTP_PID, "?");
            config.update(props);
            // the operator surface (Web Console, /admin REST) listens on loopback only, on its own port
            Hashtable<String, Object> admin = new Hashtable<>();
            admin.put("enabled", !noAdmin);
            admin.put("host", "127.0.0.1");
            admin.put("port", adminPort);
            configurationAdmin.getConfiguration(ADMIN_PID, "?").update(admin);
            // written every time (false too): Config Admin keeps configurations (and an operator's limits) between runs
            Configuration expose = configurationAdmin.getConfiguration("dev.arbor.expose", "?");
            java.util.Dictionary<String, Object> exposed = expose.getProperties() == null ? new Hashtable<>()
                    : expose.getProperties();
            exposed.put("enabled", exposeModels);
            expose.update(exposed);
            ServiceReference<?> endpoint = awaitEndpoint(Math.max(startupTimeoutMillis(), 20_000));
            if (endpoint == null) {
                throw new ArborException(ArborException.Kind.UNAVAILABLE, "the HTTP server did not start on "
                        + host + ":" + port + " (is the port in use, or is bundle dev.arbor.platform.http missing?"
                        + " see the log above; ARBOR_LOG_LEVEL=INFO shows more)");
            }
            awaitSettled();
            String ready = pipelines.pipelines().stream().filter(PipelineStatus::ready).map(PipelineStatus::name)
                    .collect(Collectors.joining(", "));
            out.println("Arbor serving http://" + endpoint.getProperty("arbor.http.host") + ":"
                    + endpoint.getProperty("arbor.http.port") + " (pipelines: " + (ready.isEmpty() ? "none ready"
                    : ready) + ")" + (noAdmin ? "" : "; operator console http://127.0.0.1:" + adminPort
                    + "/system/console, admin API /admin") + grpcAddress());
            out.flush();
            stopped.await(); // until the framework stops (the launcher's shutdown hook on SIGTERM / Ctrl-C)
            return 0;
        }

        /** "; gRPC host:port" once the gRPC server listens (it registers its endpoint), empty without one. */
        private String grpcAddress() throws InvalidSyntaxException, InterruptedException {
            if (grpcPort == null) {
                return "";
            }
            ServiceReference<?> grpc = awaitService(GRPC_ENDPOINT, Math.max(startupTimeoutMillis(), 20_000));
            if (grpc == null) {
                throw new ArborException(ArborException.Kind.UNAVAILABLE, "the gRPC server did not start on port "
                        + grpcPort + " (is the port in use, or is bundle dev.arbor.platform.oip missing? see the log"
                        + " above)");
            }
            return "; Open Inference Protocol gRPC " + grpc.getProperty("arbor.grpc.host") + ":"
                    + grpc.getProperty("arbor.grpc.port");
        }

        private String apiKey() throws java.io.IOException {
            if (apiKeyFile != null) {
                String key = CliFiles.readText(apiKeyFile, "API key", System.in).lines().findFirst().orElse("")
                        .trim();
                if (key.isEmpty()) {
                    throw ArborException.invalid("the API key file " + apiKeyFile + " is empty");
                }
                return key;
            }
            String env = System.getenv("ARBOR_API_KEY");
            return env == null ? "" : env.trim();
        }

        private ServiceReference<?> awaitEndpoint(long timeoutMillis) throws InvalidSyntaxException,
                InterruptedException {
            return awaitService(HTTP_ENDPOINT, timeoutMillis);
        }

        private ServiceReference<?> awaitService(String objectClass, long timeoutMillis)
                throws InvalidSyntaxException, InterruptedException {
            long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
            while (System.nanoTime() < deadline) {
                ServiceReference<?>[] refs = context.getAllServiceReferences(null,
                        "(objectClass=" + objectClass + ")");
                if (refs != null && refs.length > 0) {
                    return refs[0];
                }
                Thread.sleep(20);
            }
            return null;
        }
    }

    private static void putIfSet(Hashtable<String, Object> props, String key, Object value) {
        if (value != null) {
            props.put(key, value);
        }
    }

    private static String state(int state) {
        return switch (state) {
            case Bundle.ACTIVE -> "active";
            case Bundle.RESOLVED -> "resolved";
            case Bundle.INSTALLED -> "installed";
            case Bundle.STARTING -> "starting";
            case Bundle.STOPPING -> "stopping";
            default -> "uninstalled";
        };
    }
}
