package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.SamplingOptions;
import dev.arbor.api.sampling.TokenSelectorFactory;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.api.tokenizer.TokenizerProvider;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.Hashtable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;
import org.osgi.framework.BundleContext;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;

/**
 * Runs pipelines: resolves a request's parts when it starts (holding them until it ends), opens or reuses the model
 * and tokenizer, checks limits and compatibility, drives the generator, streams text and applies post-processors.
 */
@Component(service = PipelineService.class, immediate = true)
public class PipelineServiceImpl implements PipelineService {
    private static final System.Logger LOG = System.getLogger("dev.arbor.runtime");
    /** How long a request waits for a missing part before failing: covers a bundle update's stop/start gap. */
    static final String PART_GRACE_PROPERTY = "arbor.part.grace.ms";
    static final String MAX_TOKENS_LIMIT_PROPERTY = "arbor.limits.max_tokens";
    static final int DEFAULT_MAX_TOKENS = 256;

    private final Map<String, ConfiguredPipeline> pipelines = new ConcurrentHashMap<>();
    private final Map<String, String> lastErrors = new ConcurrentHashMap<>();
    /** The check of each pipeline's own option values, for one definition and one set of parts (see below). */
    private final Map<String, OptionCheck> optionChecks = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicLong partsChanged = new java.util.concurrent.atomic.AtomicLong();
    private final Map<String, Parsed> parsed = new ConcurrentHashMap<>();
    /** Every model any request opened (targets, drafts, guides), bounded by bytes; see {@link ModelKeys}. */
    private ResourceCache<ModelBackend> models;
    private ModelRegistry registry;
    /** Tokenizers are owned (and freed) by their providers; the cache only shares them between requests. */
    private final ResourceCache<Tokenizer> tokenizers = new ResourceCache<>(t -> { });
    private BundleContext context;
    private PartRegistry parts;
    private long graceMillis;
    private int maxTokensLimit;

    @Reference
    private volatile ConfigurationAdmin configurationAdmin;

    /** Renders chat templates (bundle chat-template); optional: pipelines without a template do not need it. */
    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC)
    private volatile dev.arbor.api.pipeline.ChatTemplateEngine chatTemplateEngine;

    /** generation_config.json files next to models and tokenizers, read again when they change. */
    private final GenerationConfig.Cache generationConfigs = new GenerationConfig.Cache();

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    void addPipeline(ConfiguredPipeline pipeline) {
        pipelines.put(pipeline.name(), pipeline);
        lastErrors.remove(pipeline.name());
    }

    void removePipeline(ConfiguredPipeline pipeline) {
        pipelines.remove(pipeline.name(), pipeline);
    }

    @Activate
    void activate(BundleContext context) {
        this.context = context;
        this.graceMillis = Long.parseLong(property(PART_GRACE_PROPERTY, "2000"));
        this.maxTokensLimit = Integer.parseInt(property(MAX_TOKENS_LIMIT_PROPERTY, "4096"));
        this.models = new ResourceCache<>(ModelBackend::close, ModelCacheBound.bytes(n -> property(n, null)),
                ModelCacheBound.PROPERTY);
        String etc = context.getProperty(EtcPipelineLoader.ETC_PROPERTY);
        this.registry = new ModelRegistry(etc == null ? null : Path.of(etc, "models"), this::variable);
        this.parts = new PartRegistry(context);
        parts.onChange(this::retireStaleResources);
        parts.onChange(partsChanged::incrementAndGet);
    }

    @Deactivate
    void deactivate() {
        parts.close();
        models.retireAll();
        tokenizers.retireAll();
    }

    private String property(String name, String fallback) {
        String v = context.getProperty(name);
        return v == null ? fallback : v;
    }

    /** Resolves {@code ${name}} in pipeline files: framework/system property, then environment variable. */
    String variable(String name) {
        String v = context.getProperty(name);
        if (v == null) {
            v = System.getenv(PipelineJson.environmentName(name));
        }
        return v;
    }

    /** A part registry view for listings (CLI, admin). */
    public PartRegistry parts() {
        return parts;
    }

    private void retireStaleResources() {
        models.retireUnless(id -> isCurrentProvider(PartKind.BACKEND, id));
        tokenizers.retireUnless(id -> isCurrentProvider(PartKind.TOKENIZER, id));
    }

    private boolean isCurrentProvider(PartKind kind, long serviceId) {
        for (PartRegistry.PartInfo info : parts.list()) {
            if (info.kind() == kind && info.serviceId() == serviceId) {
                return parts.best(kind, info.name())
                        .map(r -> ((Long) r.getProperty("service.id")) == serviceId).orElse(false);
            }
        }
        return false;
    }

    // ----------------------------------------------------------------------------------------------- status

    @Override
    public List<PipelineStatus> pipelines() {
        List<PipelineStatus> out = new ArrayList<>();
        for (String name : pipelines.keySet()) {
            status(name).ifPresent(out::add);
        }
        out.sort(Comparator.comparing(PipelineStatus::name));
        return out;
    }

    @Override
    public Optional<PipelineStatus> status(String name) {
        ConfiguredPipeline configured = pipelines.get(name);
        if (configured == null) {
            return Optional.empty();
        }
        PipelineDefinition definition;
        try {
            definition = parse(configured);
        } catch (ArborException e) {
            return Optional.of(new PipelineStatus(name, false, List.of("a valid pipeline file (" + e.getMessage()
                    + ")"), null));
        }
        List<String> missing = missingParts(definition, definition.generator());
        String error = lastErrors.get(name);
        if (missing.isEmpty() && error != null) {
            missing = List.of("a loadable model (" + error + ")");
        }
        OptionCheck checked = optionChecks.get(name);
        if (missing.isEmpty() && checked != null && checked.definition() == definition && checked.problem() != null) {
            // only a check already made (by a request or a definition): a listing must not open every tokenizer
            missing = List.of(checked.problem());
        }
        return Optional.of(new PipelineStatus(name, missing.isEmpty(), missing, definition));
    }

    /** The part as registered now, without the grace wait of a request (a status must not block). */
    private <T> Lease<T> now(Resolution r, PartKind kind, String name, Class<T> type) {
        return r.hold(parts.acquire(kind, name, type, 0).orElseThrow(() -> new ArborException(
                ArborException.Kind.UNAVAILABLE, kind.describe(name) + " is not registered")));
    }

    private record OptionCheck(PipelineDefinition definition, long partsVersion, String problem) {
    }

    /**
     * What is wrong with the pipeline's own option values (null: nothing found), checked once per definition and
     * set of parts, since status is asked on every request; see {@link OperatorOptions}.
     */
    private String optionProblem(ConfiguredPipeline configured, PipelineDefinition d) {
        long version = partsChanged.get();
        OptionCheck cached = optionChecks.get(d.name());
        if (cached != null && cached.definition() == d && cached.partsVersion() == version) {
            return cached.problem();
        }
        String problem = checkOptions(OperatorOptions.shownSource(configured.source()), d);
        optionChecks.put(d.name(), new OptionCheck(d, version, problem));
        if (problem != null) {
            LOG.log(System.Logger.Level.WARNING, "pipeline '" + d.name() + "' (" + configured.source()
                    + ") is unavailable: it needs " + problem);
        }
        return problem;
    }

    /** {@link OperatorOptions#problem} with the parts registered now; null also when a part is not there. */
    private String checkOptions(String source, PipelineDefinition d) {
        String problem = null;
        try (Resolution r = new Resolution()) {
            List<LogitsProcessorFactory> factories = new ArrayList<>();
            List<String> bundles = new ArrayList<>();
            for (PartRef p : d.processors()) {
                Lease<LogitsProcessorFactory> lease = now(r, PartKind.PROCESSOR, p.name(),
                        LogitsProcessorFactory.class);
                factories.add(lease.get());
                bundles.add(lease.bundle());
            }
            Lease<TokenSelectorFactory> selector = now(r, PartKind.SELECTOR, d.selector().name(),
                    TokenSelectorFactory.class);
            Lease<TokenizerProvider> provider = now(r, PartKind.TOKENIZER, d.tokenizer().format(),
                    TokenizerProvider.class);
            var tokenizer = tokenizers.acquire(new ResourceCache.Key(provider.serviceId(), d.tokenizer().toString()),
                    () -> openTokenizer(d, provider));
            r.held.add(tokenizer);
            problem = OperatorOptions.problem(d, source,
                    generationConfigs.of(d).defaults().with(d.defaults()), factories, bundles, selector.get(),
                    selector.bundle(), tokenizer.get());
        } catch (RuntimeException e) {
            // a part or the tokenizer is not there or does not open: the status and requests report that; checked
            // again once the parts change
        }
        return problem;
    }

    /**
     * The definition of a configured pipeline, parsed once per configuration text (requests must not pay for JSON
     * parsing); variables are resolved at parse time, so a changed property needs a configuration update.
     */
    private PipelineDefinition parse(ConfiguredPipeline configured) {
        String json = configured.json();
        Parsed cached = parsed.get(configured.name());
        if (cached != null && cached.json() == json) {
            return cached.definition();
        }
        PipelineDefinition definition = PipelineJson.parse(json, configured.source(), configured.name(),
                this::variable, registry::find);
        parsed.put(configured.name(), new Parsed(json, definition));
        return definition;
    }

    private record Parsed(String json, PipelineDefinition definition) {
    }

    private List<String> missingParts(PipelineDefinition d, PartRef generator) {
        List<String> missing = new ArrayList<>();
        check(missing, PartKind.BACKEND, d.model().backend());
        check(missing, PartKind.TOKENIZER, d.tokenizer().format());
        check(missing, PartKind.GENERATOR, generator.name());
        d.processors().forEach(p -> check(missing, PartKind.PROCESSOR, p.name()));
        check(missing, PartKind.SELECTOR, d.selector().name());
        d.postProcessors().forEach(p -> check(missing, PartKind.POST_PROCESSOR, p.name()));
        return missing;
    }

    private void check(List<String> missing, PartKind kind, String name) {
        if (!parts.isPresent(kind, name)) {
            missing.add(kind.describe(name));
        }
    }

    // ----------------------------------------------------------------------------------------------- define

    @Override
    public void define(PipelineDefinition definition) {
        verifyModels(definition);
        String badOptions = checkOptions("its definition", definition);
        if (badOptions != null) {
            throw ArborException.invalid("pipeline '" + definition.name() + "' is refused: it needs " + badOptions);
        }
        String json = PipelineJson.write(definition);
        try {
            Configuration config = configurationAdmin.getFactoryConfiguration(PipelineComponent.FACTORY_PID,
                    definition.name(), "?");
            Hashtable<String, Object> props = new Hashtable<>();
            props.put(PipelineComponent.NAME, definition.name());
            props.put(PipelineComponent.JSON, json);
            props.put(PipelineComponent.SOURCE, "pipeline '" + definition.name() + "' defined at run time");
            config.update(props);
        } catch (IOException e) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, "cannot store pipeline '"
                    + definition.name() + "' in Config Admin: " + e.getMessage(), e);
        }
        // Config Admin delivers asynchronously: wait so that the caller's next request sees the new definition
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (System.nanoTime() < deadline) {
            ConfiguredPipeline now = pipelines.get(definition.name());
            if (now != null && json.equals(now.json())) {
                return;
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        LOG.log(System.Logger.Level.WARNING, "pipeline '" + definition.name() + "' was stored but not yet applied");
    }

    /**
     * Opens the target and every model reference among the generator's model options (registry names or the
     * operator's paths), so a definition naming an unknown, missing or unreadable model is refused before it is
     * stored, instead of being accepted as ready and failing every request.
     */
    private void verifyModels(PipelineDefinition d) {
        try (Resolution r = new Resolution()) {
            Lease<ModelBackendProvider> backend = need(r, d, PartKind.BACKEND, d.model().backend(),
                    ModelBackendProvider.class);
            r.held.add(models.acquire(ModelKeys.key(backend.serviceId(), d.model()), ModelKeys.bytes(d.model()),
                    () -> openFurtherModel(d.model(), backend)));
            Optional<Lease<Generator>> generator = parts.acquire(PartKind.GENERATOR, d.generator().name(),
                    Generator.class, graceMillis);
            if (generator.isEmpty()) {
                return; // reported as a missing part by the pipeline's status
            }
            r.hold(generator.get());
            // a constraint under a generator that commits out of order is refused now, not at every request
            for (PartRef p : d.processors()) {
                parts.acquire(PartKind.PROCESSOR, p.name(), LogitsProcessorFactory.class, 0).map(r::hold)
                        .ifPresent(lease -> OutputConstraints.check("pipeline '" + d.name() + "'",
                                d.generator().name(), generator.get().get(), p.name(), lease.get().traits(),
                                () -> inOrderGenerators(d)));
            }
            dev.arbor.api.generation.ModelResolver further = resolver(d, r);
            Options options = d.defaults().with(d.generator().options());
            for (String key : generator.get().get().modelOptions()) {
                if (options.has(key)) {
                    try {
                        further.open(further.reference(key, options.raw(key).orElse(null)));
                    } catch (ArborException e) {
                        // the operator defining the pipeline gets the loader's detail a client never sees
                        throw e.getCause() instanceof ArborException detail ? new ArborException(e.kind(), "option '"
                                + key + "': " + e.getMessage() + ": " + detail.getMessage(), e) : e;
                    }
                }
            }
        }
    }

    // ----------------------------------------------------------------------------------------------- complete

    @Override
    public Completion complete(CompletionRequest request, TextSink sink) {
        long start = System.nanoTime();
        RequestPathGuard.check(request, () -> List.copyOf(registry.names().keySet()));
        ConfiguredPipeline configured = pipelines.get(request.pipeline());
        if (configured == null) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "unknown pipeline '" + request.pipeline()
                    + "'; configured pipelines: " + (pipelines.isEmpty() ? "none" : String.join(", ",
                    pipelines.keySet().stream().sorted().toList())));
        }
        PipelineDefinition definition = parse(configured);
        String badOptions = optionProblem(configured, definition);
        if (badOptions != null) {
            // the operator's mistake, not the client's: 503 naming the pipeline's file, not a 400
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "pipeline '" + definition.name()
                    + "' unavailable: needs " + badOptions);
        }
        // generation_config.json < pipeline defaults < request values (< a part's own options, applied per part)
        GenerationConfig generationConfig = generationConfigs.of(definition);
        Options options = generationConfig.defaults().with(definition.defaults()).with(request.options());
        if (!request.options().has("max_tokens") && !definition.defaults().has("max_tokens")
                && options.has("max_tokens")) {
            // max_new_tokens of the model's file is a default, never a request error: keep it within the limit
            options = options.with("max_tokens", Math.min(maxTokensLimit,
                    options.integer("max_tokens", DEFAULT_MAX_TOKENS, 0, Integer.MAX_VALUE)));
        }
        // as with processors: naming the pipeline's own generator without options runs the pipeline's entry (its
        // options), so a request that spells out the pipeline's choice gets exactly the pipeline
        PartRef generatorRef = request.generator() == null
                || request.generator().name().equals(definition.generator().name())
                        && request.generator().options().asMap().isEmpty()
                ? definition.generator() : request.generator();
        definition = applyOverrides(definition, request);
        boolean[] delivered = {false};
        TextSink tracking = new TextSink() {
            @Override
            public boolean onText(String delta, int token) {
                return onText(delta, token, Double.NaN);
            }

            @Override
            public boolean onText(String delta, int token, double logProbability) {
                delivered[0] = true;
                return sink.onText(delta, token, logProbability);
            }

            @Override
            public boolean onToken(String delta, dev.arbor.api.pipeline.ScoredToken chosen,
                                   List<dev.arbor.api.pipeline.ScoredToken> alternatives) {
                delivered[0] = true;
                return sink.onToken(delta, chosen, alternatives);
            }

            // canvases reach the client too (a retry would show them again), and must be passed on: a sink that
            // only forwards text drops every diffusion canvas and partial image
            @Override
            public void onCanvas(String text, int step) {
                delivered[0] = true;
                sink.onCanvas(text, step);
            }

            @Override
            public void onImageCanvas(float[][] pixels, int step) {
                delivered[0] = true;
                sink.onImageCanvas(pixels, step);
            }
        };
        for (int attempt = 1; ; attempt++) {
            Resolution parts = resolve(definition, generatorRef);
            try {
                return run(definition, generatorRef, parts, request, options, tracking, start);
            } catch (RuntimeException | LinkageError e) {
                boolean departed = departedBundle(e) || parts.anyPartDeparted();
                if (attempt >= 2 || delivered[0] || !departed) {
                    if (e instanceof ArborException a) {
                        throw a;
                    }
                    if (e instanceof RuntimeException unexpected && !departed) {
                        throw unexpected;
                    }
                    throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "a part of pipeline '"
                            + definition.name() + "' failed after its bundle was updated or refreshed under a"
                            + " running request: " + e, e);
                }
                // A part's bundle was updated or refreshed between this request taking the part and using it, so
                // its old class loader is gone. Nothing reached the client yet: resolve the parts again.
                LOG.log(System.Logger.Level.INFO, "retrying a request of pipeline '" + definition.name()
                        + "' whose part left during an update: " + e.getMessage());
            } finally {
                parts.close();
            }
        }
    }

    /** True when a failure comes from a class loader that an update or refresh closed (a departed revision). */
    private static boolean departedBundle(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof LinkageError) {
                return true;
            }
        }
        return false;
    }

    /**
     * The pipeline as this request runs it: its own processor chain or the request's, after checking the request's
     * choices against the pipeline's allow-list and its fixed parts (operators decide what a request may change).
     */
    private PipelineDefinition applyOverrides(PipelineDefinition d, CompletionRequest request) {
        if (request.generator() != null && !request.generator().name().equals(d.generator().name())
                && !d.overrides().generators().contains(request.generator().name())) {
            throw RequestChain.notAllowed(d.name(), PartKind.GENERATOR, request.generator().name(),
                    allowed(d.generator().name(), d.overrides().generators()), parts.names(PartKind.GENERATOR));
        }
        List<PartRef> chain = RequestChain.of(d, request.processors(), name -> declaresFixed(d, name),
                () -> parts.names(PartKind.PROCESSOR));
        if (chain == d.processors()) {
            return d;
        }
        return new PipelineDefinition(d.name(), d.description(), d.model(), d.tokenizer(), d.generator(),
                chain, d.selector(), d.postProcessors(), d.defaults(), d.overrides());
    }

    /** Whether processor part {@code name} declares itself fixed (a watermark); a missing part fails closed. */
    private boolean declaresFixed(PipelineDefinition d, String name) {
        try (Lease<LogitsProcessorFactory> lease = parts.acquire(PartKind.PROCESSOR, name,
                LogitsProcessorFactory.class, graceMillis).orElseThrow(() -> new ArborException(
                ArborException.Kind.UNAVAILABLE, "pipeline '" + d.name() + "' unavailable: needs "
                + PartKind.PROCESSOR.describe(name)))) {
            return lease.get().traits().contains(Trait.WATERMARK);
        }
    }

    private static List<String> allowed(String own, List<String> others) {
        List<String> all = new ArrayList<>(List.of(own));
        all.addAll(others);
        return all;
    }


    @Override
    public int[] tokenize(String pipeline, String text) {
        return withTokenizer(pipeline, (d, tokenizer) -> tokenizer.encode(text, true));
    }

    @Override
    public Optional<dev.arbor.api.pipeline.RenderedChat> renderChat(String pipeline,
            List<dev.arbor.api.pipeline.ChatMessage> messages) {
        return withTokenizer(pipeline, (d, tokenizer) -> ChatTemplates.render(d, tokenizer, chatTemplateEngine,
                messages));
    }

    @Override
    public Optional<ImageLayout> imageLayout(String pipeline) {
        // the layout is an immutable record: safe to hand out after the tokenizer's lease ends
        return withTokenizer(pipeline, (d, tokenizer) -> tokenizer instanceof ImageTokenizer images
                ? Optional.of(images.layout()) : Optional.<ImageLayout>empty());
    }

    /** Runs {@code work} with pipeline {@code pipeline}'s definition and its tokenizer, held for the call only. */
    private <T> T withTokenizer(String pipeline,
                                java.util.function.BiFunction<PipelineDefinition, Tokenizer, T> work) {
        ConfiguredPipeline configured = pipelines.get(pipeline);
        if (configured == null) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "unknown pipeline '" + pipeline + "'");
        }
        PipelineDefinition d = parse(configured);
        try (Lease<TokenizerProvider> provider = parts.acquire(PartKind.TOKENIZER, d.tokenizer().format(),
                TokenizerProvider.class, graceMillis).orElseThrow(() -> new ArborException(
                ArborException.Kind.UNAVAILABLE, "pipeline '" + d.name() + "' unavailable: needs "
                + PartKind.TOKENIZER.describe(d.tokenizer().format())));
             var handle = tokenizers.acquire(new ResourceCache.Key(provider.serviceId(), d.tokenizer().toString()),
                     () -> openTokenizer(d, provider))) {
            return work.apply(d, handle.get());
        }
    }

    @Override
    public PostProcessor.Output analyze(String pipeline, String text, Options options) {
        return analyze(pipeline, tokenizer -> new PostProcessor.Output(tokenizer.encode(text, false), text, Map.of()),
                options);
    }

    @Override
    public PostProcessor.Output analyzeImage(String pipeline, byte[] png, Options options) {
        PostProcessor.Output output = analyze(pipeline, tokenizer -> {
            PngTokens.Decoded image = PngTokens.decode(pipeline, tokenizer, png);
            return new PostProcessor.Output(image.tokens(), "", Map.of(IMAGE_PIXELS, image.pixels()));
        }, options);
        // an image pipeline's own post-processor (image-png) renders the codes again: the caller holds the image,
        // so such bytes are left out of the analysis rather than echoed back, as are the pixels
        Map<String, Object> annotations = new LinkedHashMap<>(output.annotations());
        annotations.remove(IMAGE_PIXELS);
        annotations.values().removeIf(v -> v instanceof byte[]);
        return new PostProcessor.Output(output.tokens(), output.text(), annotations);
    }

    /** Runs the pipeline's post-processors over what {@code input} makes of its tokenizer. */
    private PostProcessor.Output analyze(String pipeline, java.util.function.Function<Tokenizer, PostProcessor.Output>
            input, Options options) {
        ConfiguredPipeline configured = pipelines.get(pipeline);
        if (configured == null) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "unknown pipeline '" + pipeline + "'");
        }
        PipelineDefinition d = parse(configured);
        if (d.postProcessors().isEmpty()) {
            throw ArborException.invalid("pipeline '" + d.name() + "' has no post-processors to analyze text with"
                    + " (a watermark detector, for example, goes in its \"postprocessors\")");
        }
        Resolution r = new Resolution();
        try (r) {
            Lease<TokenizerProvider> provider = need(r, d, PartKind.TOKENIZER, d.tokenizer().format(),
                    TokenizerProvider.class);
            var handle = tokenizers.acquire(new ResourceCache.Key(provider.serviceId(), d.tokenizer().toString()),
                    () -> openTokenizer(d, provider));
            r.held.add(handle);
            Tokenizer tokenizer = handle.get();
            PostProcessor.Output output = input.apply(tokenizer);
            for (PartRef ref : d.postProcessors()) {
                Lease<PostProcessor> pp = need(r, d, PartKind.POST_PROCESSOR, ref.name(), PostProcessor.class);
                try {
                    output = pp.get().process(output, tokenizer, d.defaults().with(options).with(ref.options()));
                } catch (RuntimeException | LinkageError e) {
                    throw GuardedParts.failure(PartKind.POST_PROCESSOR.describe(ref.name()), pp.bundle(), e);
                }
            }
            return output;
        }
    }

    /** Everything a request holds while it runs. */
    private final class Resolution implements AutoCloseable {
        final List<AutoCloseable> held = new ArrayList<>();
        Lease<Generator> generator;
        final List<Lease<LogitsProcessorFactory>> processors = new ArrayList<>();
        final List<PartRef> processorRefs = new ArrayList<>();
        Lease<TokenSelectorFactory> selector;
        final List<Lease<PostProcessor>> postProcessors = new ArrayList<>();
        ModelBackend model;
        Tokenizer tokenizer;

        <T> Lease<T> hold(Lease<T> lease) {
            held.add(lease);
            return lease;
        }

        /** True once a part's bundle was updated, refreshed or uninstalled after this request took the part. */
        boolean anyPartDeparted() {
            for (AutoCloseable h : held) {
                if (h instanceof Lease<?> lease && lease.departed()) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public void close() {
            for (int i = held.size() - 1; i >= 0; i--) {
                try {
                    held.get(i).close();
                } catch (Exception e) {
                    LOG.log(System.Logger.Level.WARNING, "releasing a part failed: " + e);
                }
            }
        }
    }

    private <T> Lease<T> need(Resolution r, PipelineDefinition d, PartKind kind, String name, Class<T> type) {
        return r.hold(parts.acquire(kind, name, type, graceMillis).orElseThrow(() -> new ArborException(
                ArborException.Kind.UNAVAILABLE, "pipeline '" + d.name() + "' unavailable: needs "
                + kind.describe(name))));
    }

    private Resolution resolve(PipelineDefinition d, PartRef generatorRef) {
        Resolution r = new Resolution();
        try {
            r.generator = need(r, d, PartKind.GENERATOR, generatorRef.name(), Generator.class);
            for (PartRef p : d.processors()) {
                r.processors.add(need(r, d, PartKind.PROCESSOR, p.name(), LogitsProcessorFactory.class));
                r.processorRefs.add(p);
            }
            r.selector = need(r, d, PartKind.SELECTOR, d.selector().name(), TokenSelectorFactory.class);
            for (PartRef p : d.postProcessors()) {
                r.postProcessors.add(need(r, d, PartKind.POST_PROCESSOR, p.name(), PostProcessor.class));
            }
            Lease<ModelBackendProvider> backend = need(r, d, PartKind.BACKEND, d.model().backend(),
                    ModelBackendProvider.class);
            Lease<TokenizerProvider> tokenizerProvider = need(r, d, PartKind.TOKENIZER, d.tokenizer().format(),
                    TokenizerProvider.class);
            var modelHandle = models.acquire(ModelKeys.key(backend.serviceId(), d.model()),
                    ModelKeys.bytes(d.model()), () -> openModel(d, backend));
            r.held.add(modelHandle);
            r.model = new LogitsCheckedModel(modelHandle.get(), d.name());
            var tokenizerHandle = tokenizers.acquire(
                    new ResourceCache.Key(tokenizerProvider.serviceId(), d.tokenizer().toString()),
                    () -> openTokenizer(d, tokenizerProvider));
            r.held.add(tokenizerHandle);
            r.tokenizer = tokenizerHandle.get();
            lastErrors.remove(d.name());
            return r;
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
    }

    private ModelBackend openModel(PipelineDefinition d, Lease<ModelBackendProvider> backend) {
        try {
            return backend.get().open(new ModelSpec(Path.of(d.model().path()), d.model().format(),
                    d.model().options()));
        } catch (ArborException e) {
            // the operator sees the loader's detail (status, log); a client only the kind of failure: a loader's
            // message may quote values read from the file
            lastErrors.put(d.name(), e.getMessage());
            LOG.log(System.Logger.Level.WARNING, "pipeline '" + d.name() + "': its model could not be opened: "
                    + e.getMessage());
            throw new ArborException(e.kind(), "pipeline '" + d.name() + "': its model could not be opened: "
                    + RequestModels.failure(e.kind(), d.model().format()) + " (the server log has the details)", e);
        } catch (RuntimeException | LinkageError e) {
            lastErrors.put(d.name(), e.toString());
            throw GuardedParts.failure(PartKind.BACKEND.describe(d.model().backend()), backend.bundle(), e);
        }
    }

    private Tokenizer openTokenizer(PipelineDefinition d, Lease<TokenizerProvider> provider) {
        try {
            return provider.get().open(Path.of(d.tokenizer().path()), d.tokenizer().options());
        } catch (ArborException e) {
            lastErrors.put(d.name(), e.getMessage());
            throw new ArborException(e.kind(), "pipeline '" + d.name() + "': " + e.getMessage(), e);
        } catch (RuntimeException | LinkageError e) {
            lastErrors.put(d.name(), e.toString());
            throw GuardedParts.failure(PartKind.TOKENIZER.describe(d.tokenizer().format()), provider.bundle(), e);
        }
    }

    private Completion run(PipelineDefinition d, PartRef generatorRef, Resolution r, CompletionRequest request,
                           Options options, TextSink sink, long start) {
        ModelCard card = r.model.card();
        checkCompatibility(d, generatorRef, r, card);
        checkGivenIds(request.inputIds(), card);
        int[] prompt = checkIds(request.inputIds() != null ? request.inputIds()
                : r.tokenizer.encode(request.prompt(), true), card);
        if (prompt.length == 0) {
            throw ArborException.invalid("the prompt is empty and the tokenizer adds no BOS token; give some text"
                    + " or --input-ids");
        }
        if (prompt.length >= card.maxPositions()) {
            throw ArborException.invalid("prompt has " + prompt.length + " tokens but pipeline '" + d.name()
                    + "' has a context of " + card.maxPositions() + " tokens (at most " + (card.maxPositions() - 1)
                    + " prompt tokens leave room for one new token)");
        }
        int maxTokens = options.integer("max_tokens", DEFAULT_MAX_TOKENS, 0, maxTokensLimit);
        long seed = options.longValue("seed").orElseGet(() -> ThreadLocalRandom.current().nextLong());

        // log-probability listings (OpenAI's logprobs / top_logprobs): the token's bytes and its alternatives
        int topLogprobs = options.integer("top_logprobs", 0, 0, dev.arbor.api.sampling.TopTokens.MAX);
        boolean logprobs = options.bool("logprobs", false) || topLogprobs > 0;
        FixedPartGuard fixedParts = new FixedPartGuard();
        int[] stopTokens = stopTokens(card, options, generationConfigs.of(d).stopIds());
        Supplier<Sampler> samplers = samplerFactory(r, d, options, fixedParts, topLogprobs,
                OutputConstraints.budget(options.with(generatorRef.options()), maxTokens,
                        card.maxPositions() - prompt.length), stopTokens);
        // Validates every processor's and the selector's options before any compute, and runs the chain once on a
        // neutral row with its own RNG: the parts load their classes now, while a failure can still be retried
        // (a part whose bundle is refreshed mid-request cannot load classes any more).
        samplers.get().sample(new float[card.vocabSize()], SamplingContext.seeded(prompt, card.vocabSize(), 0L));
        fixedParts.reset();

        long[] firstToken = {0L};
        TextStreamer streamer = new TextStreamer(r.tokenizer, prompt, request.stop(), sink);
        boolean streamCanvas = options.bool("stream_canvas", false);
        Tokenizer tokenizer = r.tokenizer;
        TokenSink tokenSink = new TokenSink() {
            @Override
            public boolean accept(int row, int token, dev.arbor.api.sampling.Selection selection) {
                if (firstToken[0] == 0L) {
                    fixedParts.checkCommit(generatorRef.name(), d.name());
                    firstToken[0] = System.nanoTime();
                }
                double logProbability = selection == null ? Double.NaN : selection.logProbability();
                if (logprobs) {
                    return streamer.accept(new dev.arbor.api.pipeline.ScoredToken(token, tokenizer.tokenBytes(token),
                            logProbability), AlternativesSelector.scored(tokenizer, selection, topLogprobs));
                }
                return streamer.accept(token, logProbability);
            }

            @Override
            public void canvas(int row, int[] tokens, int maskTokenId, int step) {
                if (streamCanvas && tokenizer instanceof ImageTokenizer images) {
                    sink.onImageCanvas(imageCanvas(images, tokens, maskTokenId), step);
                } else if (streamCanvas) {
                    sink.onCanvas(canvasText(tokenizer, tokens, maskTokenId, stopTokens), step);
                }
            }
        };
        long timeoutMillis = options.longValue("timeout_ms").orElse(0L);
        Cancellation cancellation = RequestCancellation.forCurrentThread(start, timeoutMillis);
        // a part's own options are the operator's and win over the request's (keys, drafts); pipeline defaults and
        // request values fill in the rest
        Options generatorOptions = options.with(generatorRef.options());
        CostLimits.from(n -> property(n, null)).check(generatorOptions, maxTokens,
                r.generator.get().requirements().contains(Trait.NEEDS_BIDIRECTIONAL));
        GenerationContext ctx = new GenerationContext(r.model, r.tokenizer, prompt, maxTokens, samplers, stopTokens,
                seed, generatorOptions, cancellation, resolver(d, r));
        GenerationResult result;
        try {
            result = r.generator.get().generate(ctx, tokenSink);
        } catch (RuntimeException | LinkageError e) {
            throw GuardedParts.failure(PartKind.GENERATOR.describe(generatorRef.name()), r.generator.bundle(), e);
        }
        if (result == null) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, PartKind.GENERATOR.describe(
                    generatorRef.name()) + " (bundle " + r.generator.bundle() + ") returned no result");
        }
        String text = streamer.finish();
        PostProcessor.Output output = new PostProcessor.Output(result.tokens(), text, Map.of());
        for (int i = 0; i < r.postProcessors.size(); i++) {
            Lease<PostProcessor> pp = r.postProcessors.get(i);
            PartRef ref = d.postProcessors().get(i);
            try {
                output = pp.get().process(output, r.tokenizer, options.with(ref.options()));
            } catch (RuntimeException | LinkageError e) {
                throw GuardedParts.failure(PartKind.POST_PROCESSOR.describe(ref.name()), pp.bundle(), e);
            }
        }
        Map<String, Object> stats = new LinkedHashMap<>(result.stats());
        stats.put("seed", seed);
        stats.put("forward_passes", result.forwardPasses());
        stats.put("generator", generatorRef.name());
        stats.putAll(output.annotations());
        long end = System.nanoTime();
        return new Completion(d.name(), output.text(), prompt, result.tokens(), result.logProbs(),
                streamer.stopped() ? dev.arbor.api.generation.FinishReason.STOP : result.finishReason(),
                firstToken[0] == 0L ? end - start : firstToken[0] - start, end - start, stats);
    }

    /** Further models for this request (drafts, guides): leased and shared like the target, released at its end. */
    private dev.arbor.api.generation.ModelResolver resolver(PipelineDefinition d, Resolution r) {
        return new RequestModels(d, registry, ref -> {
            synchronized (r) {
                Lease<ModelBackendProvider> backend = need(r, d, PartKind.BACKEND, ref.backend(),
                        ModelBackendProvider.class);
                var handle = models.acquire(ModelKeys.key(backend.serviceId(), ref), ModelKeys.bytes(ref),
                        () -> openFurtherModel(ref, backend));
                r.held.add(handle);
                return new LogitsCheckedModel(handle.get(), d.name());
            }
        });
    }

    /** Opens a draft or guide; unlike the target, its failure says nothing about the pipeline's availability. */
    private static ModelBackend openFurtherModel(dev.arbor.api.pipeline.ModelRef ref,
                                                 Lease<ModelBackendProvider> backend) {
        try {
            return backend.get().open(new ModelSpec(Path.of(ref.path()), ref.format(), ref.options()));
        } catch (ArborException e) {
            throw e;
        } catch (RuntimeException | LinkageError e) {
            throw GuardedParts.failure(PartKind.BACKEND.describe(ref.backend()), backend.bundle(), e);
        }
    }

    /** The model registry and the model cache, as operators see them (admin API). */
    @Override
    public Map<String, Object> models() {
        Map<String, Object> out = new LinkedHashMap<>();
        Map<String, Object> declared = new LinkedHashMap<>();
        registry.names().forEach((name, ref) -> declared.put(name, Map.of("backend", ref.backend(), "format",
                ref.format(), "path", ref.path())));
        out.put("registry", declared);
        List<Map<String, Object>> entries = new ArrayList<>();
        for (ResourceCache.EntryInfo e : models.entries()) {
            entries.add(Map.of("key", e.description(), "bytes", e.bytes(), "users", e.users()));
        }
        out.put("cache", Map.of("entries", entries.size(), "bytes", models.bytes(), "max_bytes",
                models.maxBytes(), "models", entries));
        return out;
    }

    private Supplier<Sampler> samplerFactory(Resolution r, PipelineDefinition d, Options options,
                                             FixedPartGuard fixedParts, int topLogprobs, int tokenBudget,
                                             int[] stopTokens) {
        List<LogitsProcessorFactory> factories = new ArrayList<>();
        List<String> bundles = new ArrayList<>();
        r.processors.forEach(l -> {
            factories.add(l.get());
            bundles.add(l.bundle());
        });
        TokenSelectorFactory selectorFactory = r.selector.get();
        String selectorBundle = r.selector.bundle();
        // Greedy decoding takes the argmax, which warpers that never change the argmax (temperature, top-k,
        // top-p, ...) cannot affect: like Hugging Face, which applies its warpers only when sampling, skip them.
        boolean greedy = "greedy".equals(d.selector().name()) || SamplingOptions.greedy(options);
        return () -> {
            List<LogitsProcessor> chain = new ArrayList<>();
            for (int i = 0; i < factories.size(); i++) {
                PartRef ref = r.processorRefs.get(i);
                String label = PartKind.PROCESSOR.describe(ref.name());
                LogitsProcessor p;
                // a fixed part (a watermark) sees only the operator's values: no request option reaches it
                boolean fixed = RequestChain.isFixed(d, ref, factories.get(i).traits().contains(Trait.WATERMARK));
                Options base = fixed ? d.defaults() : options;
                Options own = base.with(ref.options());
                if (factories.get(i).traits().contains(Trait.CONSTRAINS_OUTPUT)) {
                    own = OutputConstraints.withBudget(own, tokenBudget, stopTokens);
                }
                try {
                    p = factories.get(i).create(own, r.tokenizer);
                } catch (RuntimeException | LinkageError e) {
                    throw GuardedParts.failure(label, bundles.get(i), e);
                }
                if (greedy && factories.get(i).traits().contains(Trait.ARGMAX_INVARIANT)) {
                    continue; // created only to validate its options
                }
                LogitsProcessor guarded = GuardedParts.processor(p, label, bundles.get(i));
                chain.add(fixed ? fixedParts.watch(guarded) : guarded);
            }
            String label = PartKind.SELECTOR.describe(d.selector().name());
            try {
                dev.arbor.api.sampling.TokenSelector selector = GuardedParts.selector(
                        selectorFactory.create(options.with(d.selector().options())), label, selectorBundle);
                return new Sampler(chain, topLogprobs > 0 ? new AlternativesSelector(selector, topLogprobs)
                        : selector);
            } catch (RuntimeException | LinkageError e) {
                throw GuardedParts.failure(label, selectorBundle, e);
            }
        };
    }

    /** Refuses parts that cannot work together, naming both. */
    private void checkCompatibility(PipelineDefinition d, PartRef generatorRef, Resolution r, ModelCard card) {
        Generator generator = r.generator.get();
        // ask per processor first so the refusal can name the processor, then for the chain as a whole
        Set<Trait> processorTraits = EnumSet.noneOf(Trait.class);
        for (int i = 0; i < r.processors.size(); i++) {
            Set<Trait> traits = r.processors.get(i).get().traits();
            processorTraits.addAll(traits);
            OutputConstraints.check("pipeline '" + d.name() + "'", generatorRef.name(), generator,
                    r.processorRefs.get(i).name(), traits, () -> inOrderGenerators(d));
            String reason = generator.incompatibility(traits);
            if (reason != null) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "pipeline '" + d.name() + "': generator '"
                        + generatorRef.name() + "' cannot be combined with logits processor '"
                        + r.processorRefs.get(i).name() + "': " + reason);
            }
        }
        String reason = generator.incompatibility(processorTraits);
        if (reason != null) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "pipeline '" + d.name() + "': generator '"
                    + generatorRef.name() + "' cannot be combined with its processors "
                    + r.processorRefs.stream().map(PartRef::name).toList() + ": " + reason);
        }
        for (Trait need : generator.requirements()) {
            Capability capability = switch (need) {
                case NEEDS_STATE_TRUNCATE -> Capability.STATE_TRUNCATE;
                case NEEDS_STATE_FORK -> Capability.STATE_FORK;
                case NEEDS_STATE_COMPACT -> Capability.STATE_COMPACT;
                case NEEDS_EXPLICIT_MASK -> Capability.EXPLICIT_MASK;
                case NEEDS_BIDIRECTIONAL -> Capability.FULL_ATTENTION;
                default -> null;
            };
            if (capability != null && !card.supports(capability)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "pipeline '" + d.name()
                        + "': generator '" + generatorRef.name() + "' needs " + capability + " but model backend '"
                        + d.model().backend() + "' does not offer it for " + card.name());
            }
        }
    }

    /** The generators pipeline {@code d} lets a request use that commit tokens in order (present ones only). */
    private List<String> inOrderGenerators(PipelineDefinition d) {
        List<String> names = new ArrayList<>(List.of(d.generator().name()));
        names.addAll(d.overrides().generators());
        List<String> out = new ArrayList<>();
        for (String name : names) {
            parts.acquire(PartKind.GENERATOR, name, Generator.class, 0).ifPresent(lease -> {
                try (lease) {
                    if (lease.get().commitsInOrder()) {
                        out.add(name);
                    }
                }
            });
        }
        return out;
    }

    /**
     * The image of a canvas's leading image codes (an image generator's canvas holds the tokens so far, then
     * {@code maskTokenId} or other non-code placeholders), as the tokenizer shows a partial image.
     */
    static float[][] imageCanvas(ImageTokenizer tokenizer, int[] tokens, int maskTokenId) {
        int n = 0;
        int limit = Math.min(tokens.length, tokenizer.layout().tokensPerImage());
        while (n < limit && tokens[n] != maskTokenId && tokenizer.layout().isCode(tokens[n])) {
            n++;
        }
        return tokenizer.decodeImage(Arrays.copyOf(tokens, n));
    }

    /**
     * A diffusion canvas as text: runs of decoded tokens detokenized, each MASK shown as
     * {@link TextSink#MASK_PLACEHOLDER}, cut at the first stop token (what follows it is never returned).
     */
    static String canvasText(Tokenizer tokenizer, int[] tokens, int maskTokenId, int[] stopTokens) {
        StringBuilder text = new StringBuilder();
        int runStart = 0;
        for (int i = 0; i <= tokens.length; i++) {
            boolean stop = false;
            for (int t = 0; i < tokens.length && t < stopTokens.length; t++) {
                stop |= tokens[i] == stopTokens[t];
            }
            if (i == tokens.length || stop || tokens[i] == maskTokenId) {
                if (i > runStart) {
                    text.append(tokenizer.decode(Arrays.copyOfRange(tokens, runStart, i)));
                }
                if (i == tokens.length || stop) {
                    break;
                }
                text.append(TextSink.MASK_PLACEHOLDER);
                runStart = i + 1;
            }
        }
        return text.toString();
    }

    /** Token ids a request gives (null: none), checked one by one so that the error names the id and its place. */
    private static void checkGivenIds(int[] ids, ModelCard card) {
        for (int i = 0; ids != null && i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= card.vocabSize()) {
                throw ArborException.invalid("prompt token id " + ids[i] + " at index " + i + " is outside the"
                        + " vocabulary 0.." + (card.vocabSize() - 1) + " of " + card.name());
            }
        }
    }

    private static int[] checkIds(int[] ids, ModelCard card) {
        for (int id : ids) {
            if (id < 0 || id >= card.vocabSize()) {
                throw ArborException.invalid("prompt token id " + id + " is outside the vocabulary of "
                        + card.name() + " (" + card.vocabSize() + " ids: 0.." + (card.vocabSize() - 1)
                        + "); does the pipeline's tokenizer belong to its model?");
            }
        }
        return ids.clone();
    }

    private static int[] stopTokens(ModelCard card, Options options, int[] configured) {
        int[] extra = options.integers("stop_token_ids");
        if (options.bool("ignore_eos", false)) {
            return extra;
        }
        // the model's EOS, generation_config.json's eos_token_id (end-of-turn tokens of chat models), the request's
        int[] eos = card.eosTokenIds();
        int[] all = Arrays.copyOf(eos, eos.length + configured.length + extra.length);
        System.arraycopy(configured, 0, all, eos.length, configured.length);
        System.arraycopy(extra, 0, all, eos.length + configured.length, extra.length);
        return all;
    }
}
