package dev.arbor.platform.admin.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.sampling.TokenSelectorFactory;
import dev.arbor.api.tokenizer.TokenizerProvider;
import dev.arbor.platform.deploy.RefusedFiles;
import dev.arbor.platform.deploy.Unresolved;
import java.nio.file.Path;
import java.util.ArrayList;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;

/** What the operator tools show and change, shared by the admin REST endpoint and the Gogo commands. */
final class Operations {
    /** Part service interfaces and how listings name them (the runtime's own words). */
    private static final Map<String, String> PART_KINDS = new LinkedHashMap<>();

    static {
        PART_KINDS.put(Generator.class.getName(), "generator");
        PART_KINDS.put(LogitsProcessorFactory.class.getName(), "logits processor");
        PART_KINDS.put(TokenSelectorFactory.class.getName(), "token selector");
        PART_KINDS.put(PostProcessor.class.getName(), "post-processor");
        PART_KINDS.put(ModelBackendProvider.class.getName(), "model backend");
        PART_KINDS.put(TokenizerProvider.class.getName(), "tokenizer format");
    }

    private final BundleContext context;
    private final PipelineService pipelines;
    private final PipelineFiles files;

    Operations(BundleContext context, PipelineService pipelines) {
        this.context = context;
        this.pipelines = pipelines;
        String etc = context.getProperty("arbor.etc");
        this.files = new PipelineFiles(etc == null ? null : Path.of(etc, "pipelines"));
    }

    /**
     * The outcome of a strategy switch: the pipeline's status, and the pipeline file that now holds the change, or
     * null with {@code note} saying why it lasts only until the runtime restarts.
     */
    record StrategyChange(PipelineStatus status, Path file, String note) {
        boolean persisted() {
            return file != null;
        }
    }

    /** A pipeline part a bundle provides. */
    record Part(String kind, String name, int ranking) {
    }

    /**
     * One installed bundle and the parts it provides; {@code reason} says why a bundle in state "installed" does not
     * resolve (absent for other states).
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record BundleRow(long id, String symbolicName, String version, String state, List<Part> parts, String reason) {
    }

    /** A file of the deploy folder the deploy watcher refused; listed after the bundles with state "refused". */
    record RefusedRow(String file, String state, String reason) {
    }

    /** Every installed bundle, by id, with the pipeline parts it registers. */
    List<BundleRow> bundles() {
        List<BundleRow> rows = new ArrayList<>();
        for (Bundle b : context.getBundles()) {
            List<Part> parts = new ArrayList<>();
            ServiceReference<?>[] services = b.getRegisteredServices();
            if (services != null) {
                for (ServiceReference<?> ref : services) {
                    Object name = ref.getProperty(PartProperties.NAME);
                    if (name == null) {
                        continue;
                    }
                    Object ranking = ref.getProperty(Constants.SERVICE_RANKING);
                    for (String type : (String[]) ref.getProperty(Constants.OBJECTCLASS)) {
                        String kind = PART_KINDS.get(type);
                        if (kind != null) {
                            parts.add(new Part(kind, name.toString(), ranking instanceof Integer i ? i : 0));
                        }
                    }
                }
            }
            parts.sort(Comparator.comparing(Part::kind).thenComparing(Part::name));
            String reason = Unresolved.reason(context, b); // null unless the bundle is installed, not resolved
            rows.add(new BundleRow(b.getBundleId(), b.getSymbolicName(), b.getVersion().toString(),
                    state(b.getState()), parts, reason));
        }
        rows.sort(Comparator.comparingLong(BundleRow::id));
        return rows;
    }

    /** The files the deploy watcher refuses now (none when it does not run), at most {@link RefusedFiles#LIMIT}. */
    List<RefusedRow> refused() {
        ServiceReference<RefusedFiles> ref = context.getServiceReference(RefusedFiles.class);
        if (ref == null) {
            return List.of();
        }
        RefusedFiles watcher = context.getService(ref);
        if (watcher == null) {
            return List.of();
        }
        try {
            return watcher.refused().stream().limit(RefusedFiles.LIMIT)
                    .map(r -> new RefusedRow(r.file(), "refused", r.reason())).toList();
        } finally {
            context.ungetService(ref);
        }
    }

    /** Arbor's version and the packages the API bundle exports (as {@code arbor version} prints them). */
    ApiPackageList.Listing version() {
        return ApiPackageList.of(context);
    }

    List<PipelineStatus> pipelines() {
        return pipelines.pipelines();
    }

    /** The model registry and the model cache (entries, bytes, bound). */
    Map<String, Object> models() {
        return pipelines.models();
    }

    /**
     * Makes {@code generator} (with {@code options}) the strategy of pipeline {@code name} for every new request;
     * requests already running keep the strategy they started with. With {@code persist}, the pipeline's file in
     * {@code etc/pipelines} is rewritten first, so the change survives a restart; a pipeline without a file, or
     * {@code persist} false, keeps the change until the runtime restarts, and the result says so.
     *
     * @throws NotFound                 when no such pipeline is configured
     * @throws IllegalArgumentException when the generator is not installed or the pipeline file is broken
     * @throws java.io.UncheckedIOException when the pipeline file cannot be rewritten (nothing was changed then)
     */
    StrategyChange switchStrategy(String name, String generator, Map<String, Object> options, boolean persist) {
        PipelineStatus status = pipelines.status(name).orElseThrow(() -> new NotFound("unknown pipeline '" + name
                + "'; configured pipelines: " + String.join(", ", pipelines.pipelines().stream()
                .map(PipelineStatus::name).toList())));
        PipelineDefinition definition = status.definition();
        if (definition == null) {
            throw new IllegalArgumentException("pipeline '" + name + "' cannot be changed: " + status.describe());
        }
        if (generator == null || generator.isBlank()) {
            throw new IllegalArgumentException("give the generator (decoding strategy) to switch to, e.g. beam-search");
        }
        TreeSet<String> installed = installedGenerators();
        if (!installed.contains(generator)) {
            // refusing here keeps a typo from taking a serving pipeline down ("unavailable: needs generator ...")
            throw new IllegalArgumentException("no generator '" + generator + "' is installed; installed generators: "
                    + String.join(", ", installed));
        }
        PartRef part = new PartRef(generator, Options.of(options));
        Path file = null;
        String note = null;
        try {
            file = persist ? files.fileOf(name).orElse(null) : null;
            if (file != null) {
                files.writeGenerator(file, part);
            } else {
                note = (persist ? "pipeline '" + name + "' has no file in etc/pipelines (it was defined at run time)"
                        : "not persisted, as asked") + ": the change lasts until the runtime restarts";
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot rewrite the pipeline file of '" + name + "' ("
                    + e.getMessage() + "); nothing was changed", e);
        }
        pipelines.define(definition.withGenerator(part));
        return new StrategyChange(pipelines.status(name).orElseThrow(() -> new NotFound("pipeline '" + name
                + "' went away")), file, note);
    }

    private TreeSet<String> installedGenerators() {
        TreeSet<String> names = new TreeSet<>();
        try {
            for (ServiceReference<Generator> ref : context.getServiceReferences(Generator.class,
                    "(" + PartProperties.NAME + "=*)")) {
                names.add(String.valueOf(ref.getProperty(PartProperties.NAME)));
            }
        } catch (InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
        return names;
    }

    /** The listing fields of a pipeline, as the REST endpoint returns them. */
    static Map<String, Object> describe(PipelineStatus s) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", s.name());
        out.put("ready", s.ready());
        out.put("status", s.describe());
        out.put("missing", s.missing());
        PipelineDefinition d = s.definition();
        if (d != null) {
            out.put("generator", d.generator().name());
            out.put("generator_options", d.generator().options().asMap());
            out.put("processors", d.processors().stream().map(PartRef::name).toList());
            out.put("selector", d.selector().name());
            out.put("model", Map.of("backend", d.model().backend(), "format", d.model().format(),
                    "path", d.model().path()));
        }
        return out;
    }

    static String state(int state) {
        return switch (state) {
            case Bundle.ACTIVE -> "active";
            case Bundle.RESOLVED -> "resolved";
            case Bundle.INSTALLED -> "installed";
            case Bundle.STARTING -> "starting";
            case Bundle.STOPPING -> "stopping";
            default -> "uninstalled";
        };
    }

    /** No such pipeline (HTTP 404). */
    static final class NotFound extends RuntimeException {
        NotFound(String message) {
            super(message);
        }
    }
}
