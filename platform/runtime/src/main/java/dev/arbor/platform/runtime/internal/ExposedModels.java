package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.pipeline.ModelRef;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;

/**
 * {@code arbor serve --expose-models}: publishes each local model the operator declared in the model registry
 * ({@code etc/models/NAME.json}, backends other than {@code remote}) as a {@link ModelBackend} service with property
 * {@value #MODEL_PROPERTY} = NAME, for a protocol front end (bundle {@code dev.arbor.backend.remote} serves them over
 * the Open Inference Protocol) to serve. A model is opened on first use and closed when the component stops; the
 * set of models is read when it starts (configuration {@value #PID}, {@code enabled = true}).
 */
@Component(configurationPid = ExposedModels.PID, configurationPolicy = ConfigurationPolicy.REQUIRE, immediate = true,
        service = {})
public final class ExposedModels {
    /** The configuration that turns exposure on ({@code enabled}) and carries the served models' limits. */
    public static final String PID = "dev.arbor.expose";
    /** The service property naming an exposed model. */
    public static final String MODEL_PROPERTY = "arbor.model";
    private static final System.Logger LOG = System.getLogger("dev.arbor.runtime");

    private final List<ServiceRegistration<ModelBackend>> registrations = new ArrayList<>();
    private final List<LazyModel> models = new ArrayList<>();
    private PartRegistry parts;

    @Activate
    void activate(BundleContext context, Map<String, Object> config) {
        if (!Boolean.parseBoolean(String.valueOf(config.getOrDefault("enabled", "false")))) {
            return;
        }
        parts = new PartRegistry(context);
        String etc = context.getProperty(EtcPipelineLoader.ETC_PROPERTY);
        ModelRegistry registry = new ModelRegistry(etc == null ? null : Path.of(etc, "models"), name -> {
            String v = context.getProperty(name);
            return v != null ? v : System.getenv(PipelineJson.environmentName(name));
        });
        long grace = Long.parseLong(Optional.ofNullable(context.getProperty(PipelineServiceImpl.PART_GRACE_PROPERTY))
                .orElse("2000"));
        registry.names().forEach((name, ref) -> {
            if ("remote".equals(ref.backend())) {
                return; // serving a remote model again would only relay another server's forwards
            }
            LazyModel model = new LazyModel(name, ref, parts, grace);
            models.add(model);
            Hashtable<String, Object> props = new Hashtable<>();
            props.put(MODEL_PROPERTY, name);
            props.put("arbor.model.backend", ref.backend());
            registrations.add(context.registerService(ModelBackend.class, model, props));
        });
        LOG.log(System.Logger.Level.INFO, "exposing models " + registry.names().keySet());
    }

    @Deactivate
    void deactivate() {
        registrations.forEach(r -> {
            try {
                r.unregister();
            } catch (IllegalStateException alreadyGone) {
                // the framework is stopping
            }
        });
        registrations.clear();
        models.forEach(LazyModel::close);
        models.clear();
        if (parts != null) {
            parts.close();
        }
    }

    /** A declared model opened by its backend part on first use, held (with the part) until closed. */
    static final class LazyModel implements ModelBackend {
        private final String name;
        private final ModelRef ref;
        private final PartRegistry parts;
        private final long graceMillis;
        private Lease<ModelBackendProvider> provider;
        private volatile ModelBackend model;
        private boolean closed;

        LazyModel(String name, ModelRef ref, PartRegistry parts, long graceMillis) {
            this.name = name;
            this.ref = ref;
            this.parts = parts;
            this.graceMillis = graceMillis;
        }

        /** The opened model; opening takes the lock, a forward on an open model does not (forwards run at once). */
        private ModelBackend model() {
            ModelBackend open = model;
            return open != null ? open : open();
        }

        private synchronized ModelBackend open() {
            if (closed) {
                throw new ArborException(ArborException.Kind.UNAVAILABLE, "model " + name + " is no longer exposed");
            }
            if (model == null) {
                Lease<ModelBackendProvider> lease = parts.acquire(PartKind.BACKEND, ref.backend(),
                        ModelBackendProvider.class, graceMillis).orElseThrow(() -> new ArborException(
                        ArborException.Kind.UNAVAILABLE, "model " + name + " needs " + PartKind.BACKEND.describe(
                        ref.backend()) + ", which is not registered"));
                try {
                    model = lease.get().open(new ModelSpec(Path.of(ref.path()), ref.format(), ref.options()));
                    provider = lease;
                } catch (RuntimeException e) {
                    lease.close();
                    throw e;
                }
            }
            return model;
        }

        @Override
        public ModelCard card() {
            return model().card();
        }

        @Override
        public DecodeState newState(int batchSize) {
            return model().newState(batchSize);
        }

        @Override
        public ForwardResult forward(ForwardRequest request) {
            return model().forward(request);
        }

        @Override
        public <T> Optional<T> extension(Class<T> type) {
            return model().extension(type);
        }

        /** Closes the opened model and releases its backend part. */
        @Override
        public synchronized void close() {
            closed = true;
            if (model != null) {
                model.close();
                model = null;
            }
            if (provider != null) {
                provider.close();
                provider = null;
            }
        }
    }
}
