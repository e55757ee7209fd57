package dev.arbor.backend.remote;

import dev.arbor.api.model.ModelBackend;
import dev.arbor.platform.oip.InferenceModel;
import java.util.Hashtable;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;

/**
 * The server side of the remote backend ({@code arbor serve --expose-models}): every {@link ModelBackend} service
 * with property {@code arbor.model} (the runtime publishes the operator's declared models so) becomes an {@link
 * InferenceModel} of platform {@value ForwardProtocol#PLATFORM} under that name, which the Open Inference Protocol
 * front ends serve. Configuration {@code dev.arbor.expose}: {@code enabled}, the limits {@code max_sequences}
 * (default 256), {@code sequence_ttl_ms} (60000), {@code max_tokens_per_forward} (4096), {@code max_rows} (64), and
 * {@code stateless} (default false: states stay here under sequence ids; true: the server keeps none and clients send
 * their histories). Idle sequences are reaped every second. A served model named like a pipeline shadows that
 * pipeline on the protocol's routes (not on the OpenAI ones), which is logged.
 */
@Component(configurationPid = "dev.arbor.expose", configurationPolicy = ConfigurationPolicy.REQUIRE,
        immediate = true, service = {})
public final class ModelExporter {
    private static final System.Logger LOG = System.getLogger("dev.arbor.backend.remote");

    private final Map<ModelBackend, Exported> exported = new ConcurrentHashMap<>();
    private volatile BundleContext context;
    private volatile ForwardModel.Limits limits;
    private volatile boolean enabled;
    private volatile boolean stateless;

    /** Pipelines, to warn when a served model takes a pipeline's name on the protocol's routes; optional. */
    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC)
    private volatile dev.arbor.api.pipeline.PipelineService pipelines;
    private ScheduledExecutorService reaper;

    private record Exported(ForwardModel model, ServiceRegistration<InferenceModel> registration) {
    }

    @Activate
    void activate(BundleContext context, Map<String, Object> config) {
        this.limits = new ForwardModel.Limits(
                intConfig(config, "max_sequences", ForwardModel.Limits.DEFAULT.maxSequences()),
                intConfig(config, "sequence_ttl_ms", (int) ForwardModel.Limits.DEFAULT.ttlMillis()),
                intConfig(config, "max_tokens_per_forward", ForwardModel.Limits.DEFAULT.maxTokensPerForward()),
                intConfig(config, "max_rows", ForwardModel.Limits.DEFAULT.maxRows()));
        this.enabled = Boolean.parseBoolean(String.valueOf(config.getOrDefault("enabled", "false")));
        this.stateless = Boolean.parseBoolean(String.valueOf(config.getOrDefault("stateless", "false")));
        this.context = context;
        reaper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "arbor-remote-sequence-reaper");
            t.setDaemon(true);
            return t;
        });
        reaper.scheduleWithFixedDelay(this::reap, 1, 1, TimeUnit.SECONDS);
        pending.forEach(this::export);
        pending.clear();
    }

    /** Models bound before activation (DS binds dynamic references first). */
    private final Map<ModelBackend, Map<String, Object>> pending = new ConcurrentHashMap<>();

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            target = "(arbor.model=*)")
    void addModel(ModelBackend model, Map<String, Object> properties) {
        if (context == null) {
            pending.put(model, properties);
        } else {
            export(model, properties);
        }
    }

    void removeModel(ModelBackend model) {
        pending.remove(model);
        Exported e = exported.remove(model);
        if (e != null) {
            unregister(e);
        }
    }

    private synchronized void export(ModelBackend model, Map<String, Object> properties) {
        if (!enabled || context == null || exported.containsKey(model)) {
            return;
        }
        String name = String.valueOf(properties.get("arbor.model"));
        ForwardModel served = new ForwardModel(name, () -> {
            model.card(); // opens the model on first use, so a model that cannot open answers UNAVAILABLE
            return model;
        }, () -> true, limits, !stateless, System::currentTimeMillis);
        Hashtable<String, Object> props = new Hashtable<>();
        props.put("arbor.model", name);
        props.put("oip.platform", ForwardProtocol.PLATFORM);
        exported.put(model, new Exported(served, context.registerService(InferenceModel.class, served, props)));
        dev.arbor.api.pipeline.PipelineService p = pipelines;
        if (p != null && p.status(name).isPresent()) {
            LOG.log(System.Logger.Level.WARNING, "served model " + name + " has the name of a pipeline: on the Open"
                    + " Inference Protocol's routes it shadows that pipeline (rename etc/models/" + name + ".json to"
                    + " serve both)");
        }
        LOG.log(System.Logger.Level.INFO, "serving model " + name + " over the Open Inference Protocol (platform "
                + ForwardProtocol.PLATFORM + ", " + limits + ")");
    }

    private void reap() {
        for (Exported e : exported.values()) {
            int freed = e.model().reap();
            if (freed > 0) {
                LOG.log(System.Logger.Level.INFO, "model " + e.model().name() + ": freed " + freed
                        + " sequences idle for more than " + limits.ttlMillis() + " ms");
            }
        }
    }

    @Deactivate
    void deactivate() {
        context = null;
        if (reaper != null) {
            reaper.shutdownNow();
        }
        exported.values().forEach(this::unregister);
        exported.clear();
    }

    private void unregister(Exported e) {
        try {
            e.registration().unregister();
        } catch (IllegalStateException alreadyGone) {
            // the framework is stopping
        }
        e.model().close();
    }

    private static int intConfig(Map<String, Object> config, String key, int fallback) {
        Object v = config.get(key);
        if (v == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(v.toString().trim());
        } catch (NumberFormatException e) {
            throw dev.arbor.api.ArborException.invalid("configuration dev.arbor.expose: " + key
                    + " must be an integer, got '" + v + "'");
        }
    }
}
