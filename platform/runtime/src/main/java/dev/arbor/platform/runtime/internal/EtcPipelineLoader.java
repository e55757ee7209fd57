package dev.arbor.platform.runtime.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Hashtable;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.osgi.framework.BundleContext;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;

/**
 * Loads pipeline files from {@code <arbor.etc>/pipelines/*.json} into Config Admin (one factory configuration of
 * {@code dev.arbor.pipeline} per file, named by the file) and keeps them in step while the runtime runs: an edited
 * file updates its pipeline, a deleted file removes it. Files are checked for syntax here so a broken edit is
 * reported with its line and the last good version keeps serving.
 */
@Component(immediate = true)
public class EtcPipelineLoader {
    private static final System.Logger LOG = System.getLogger("dev.arbor.runtime");
    static final String ETC_PROPERTY = "arbor.etc";
    static final String POLL_PROPERTY = "arbor.etc.poll.ms";
    /** One mapper for every file: a new one per file looked its deserializers up again (~30 files per start). */
    private static final com.fasterxml.jackson.databind.ObjectMapper MAPPER =
            new com.fasterxml.jackson.databind.ObjectMapper();

    @Reference
    private ConfigurationAdmin configurationAdmin;

    private final Map<Path, Long> seen = new HashMap<>();
    private ScheduledExecutorService poller;
    private Path folder;

    @Activate
    void activate(BundleContext context) {
        String etc = context.getProperty(ETC_PROPERTY);
        if (etc == null) {
            LOG.log(System.Logger.Level.INFO, "no " + ETC_PROPERTY + " set: no pipeline files are loaded");
            return;
        }
        folder = Path.of(etc, "pipelines");
        scan();
        long poll = Long.parseLong(context.getProperty(POLL_PROPERTY) == null ? "1000"
                : context.getProperty(POLL_PROPERTY));
        if (poll > 0) {
            poller = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "arbor-etc-watcher");
                t.setDaemon(true);
                return t;
            });
            poller.scheduleWithFixedDelay(this::scan, poll, poll, TimeUnit.MILLISECONDS);
        }
    }

    @Deactivate
    void deactivate() {
        if (poller != null) {
            poller.shutdownNow();
        }
    }

    synchronized void scan() {
        if (!Files.isDirectory(folder)) {
            return;
        }
        Set<Path> present = new HashSet<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(folder, "*.json")) {
            for (Path file : files) {
                present.add(file);
                long modified = Files.getLastModifiedTime(file).toMillis();
                Long before = seen.get(file);
                if (before == null || before != modified) {
                    seen.put(file, modified);
                    load(file);
                }
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot read pipeline folder " + folder + ": " + e);
            return;
        }
        for (Path gone : new HashSet<>(seen.keySet())) {
            if (!present.contains(gone)) {
                seen.remove(gone);
                remove(gone);
            }
        }
    }

    private static String nameOf(Path file) {
        String f = file.getFileName().toString();
        return f.substring(0, f.length() - ".json".length());
    }

    private void load(Path file) {
        String name = nameOf(file);
        try {
            String json = Files.readString(file, StandardCharsets.UTF_8);
            // syntax and structure check only; variables resolve when the pipeline is used
            PipelineJson.parse(json, file.toString(), name, v -> "", model -> java.util.Optional.of(
                    new dev.arbor.api.pipeline.ModelRef("registry", "registry", model, null)));
            String declared = MAPPER.readTree(json).path("name")
                    .asText(name);
            Configuration config = configurationAdmin.getFactoryConfiguration(PipelineComponent.FACTORY_PID,
                    declared, "?");
            Hashtable<String, Object> props = new Hashtable<>();
            props.put(PipelineComponent.NAME, declared);
            props.put(PipelineComponent.JSON, json);
            props.put(PipelineComponent.SOURCE, file.toString());
            config.update(props);
            LOG.log(System.Logger.Level.INFO, "pipeline '" + declared + "' loaded from " + file);
        } catch (RuntimeException | IOException e) {
            LOG.log(System.Logger.Level.ERROR, "pipeline file " + file + " not loaded: " + e.getMessage()
                    + " (the previous version, if any, keeps serving)");
        }
    }

    private void remove(Path file) {
        try {
            Configuration[] configs = configurationAdmin.listConfigurations("(" + PipelineComponent.SOURCE + "="
                    + file.toString().replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
                    .replace("*", "\\*") + ")");
            if (configs != null) {
                for (Configuration c : configs) {
                    c.delete();
                }
            }
            LOG.log(System.Logger.Level.INFO, "pipeline file " + file + " removed");
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "cannot remove the pipeline of " + file + ": " + e);
        }
    }
}
