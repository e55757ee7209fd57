package dev.arbor.platform.admin.internal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.felix.service.command.Descriptor;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** Gogo shell commands of scope {@code arbor}: the operator tools for a console session. */
@Component(service = ArborCommands.class, property = {
        "osgi.command.scope=arbor",
        "osgi.command.function=pipelines",
        "osgi.command.function=bundles",
        "osgi.command.function=strategy",
        "osgi.command.function=version"})
public class ArborCommands {
    private final ObjectMapper json = new ObjectMapper();
    private Operations operations;

    @Reference
    private PipelineService pipelineService;

    @Activate
    void activate(BundleContext context) {
        operations = new Operations(context, pipelineService);
    }

    @Descriptor("list pipelines, whether they are ready (and if not, what they need) and their parts")
    public void pipelines() {
        PrintStream out = System.out; // Gogo routes System.out to the calling session
        List<PipelineStatus> all = operations.pipelines();
        if (all.isEmpty()) {
            out.println("no pipelines configured (put pipeline files in etc/pipelines/)");
        }
        for (PipelineStatus s : all) {
            out.printf("%-20s %s%n", s.name(), s.describe());
            PipelineDefinition d = s.definition();
            if (d != null) {
                out.printf("%-20s   generator %s%s, processors %s, selector %s%n", "", d.generator().name(),
                        d.generator().options().asMap().isEmpty() ? "" : " " + d.generator().options(),
                        d.processors(), d.selector());
            }
        }
    }

    @Descriptor("list bundles with their state and the pipeline parts they provide")
    public void bundles() {
        PrintStream out = System.out;
        for (Operations.BundleRow b : operations.bundles()) {
            out.printf("%3d %-10s %-45s %s%n", b.id(), b.state(), b.symbolicName(), b.version());
            for (Operations.Part p : b.parts()) {
                out.printf("    %-10s provides %s '%s'%s%n", "", p.kind(), p.name(),
                        p.ranking() != 0 ? " (ranking " + p.ranking() + ")" : "");
            }
            if (b.reason() != null) {
                out.printf("    %-10s %s%n", "", b.reason());
            }
        }
        for (Operations.RefusedRow r : operations.refused()) {
            out.printf("  - %-10s %s: %s%n", r.state(), r.file(), r.reason());
        }
    }

    @Descriptor("Arbor's version and every package the API bundle exports, at the versions a plugin's"
            + " Import-Package must accept")
    public void version() {
        operations.version().lines().forEach(System.out::println);
    }

    @Descriptor("switch a pipeline's decoding strategy for new requests, e.g. strategy stories260k beam-search num_beams=4")
    public void strategy(@Descriptor("pipeline name") String pipeline,
                         @Descriptor("generator (decoding strategy) name") String generator,
                         @Descriptor("strategy options as key=value") String... options) {
        Map<String, Object> values = new LinkedHashMap<>();
        for (String option : options) {
            int eq = option.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("option '" + option + "' is not key=value, e.g. num_beams=4");
            }
            values.put(option.substring(0, eq), value(option.substring(eq + 1)));
        }
        Operations.StrategyChange change = operations.switchStrategy(pipeline, generator, values, true);
        System.out.println("pipeline " + pipeline + " now uses generator " + generator
                + (values.isEmpty() ? "" : " " + values) + " for new requests: " + change.status().describe()
                + (change.persisted() ? " (saved in " + change.file() + ")" : " (" + change.note() + ")"));
    }

    /** Numbers and booleans keep their type (as in a pipeline file); anything else is a string. */
    private Object value(String text) {
        try {
            JsonNode node = json.readTree(text);
            if (node != null && (node.isNumber() || node.isBoolean())) {
                return json.treeToValue(node, Object.class);
            }
        } catch (JsonProcessingException notJson) {
            // a plain word
        }
        return text;
    }
}
