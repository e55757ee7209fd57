package dev.arbor.platform.oip.server;

import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.platform.oip.InferenceModel;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.util.tracker.ServiceTracker;

/**
 * The models a front end serves, looked up per request (models and pipelines come and go while serving): every
 * registered {@link InferenceModel} service (by service ranking when two share a name), then every configured
 * pipeline as a {@link PipelineModel} under the pipeline's name. A registered model shadows a pipeline of the same
 * name on the protocol's routes (the pipeline stays on the OpenAI routes): a bundle that registers a model under a
 * name means it to be served under that name.
 */
public final class ServedModels implements AutoCloseable {
    private final Supplier<Collection<InferenceModel>> registered;
    private final PipelineService pipelines;
    private final PipelineModel.Limits limits;
    private final AutoCloseable tracking;

    /** Models from {@code registered} (highest precedence first) and the pipelines of {@code pipelines}. */
    public ServedModels(Supplier<Collection<InferenceModel>> registered, PipelineService pipelines,
                        PipelineModel.Limits limits) {
        this(registered, pipelines, limits, () -> { });
    }

    private ServedModels(Supplier<Collection<InferenceModel>> registered, PipelineService pipelines,
                         PipelineModel.Limits limits, AutoCloseable tracking) {
        this.registered = registered;
        this.pipelines = pipelines;
        this.limits = limits;
        this.tracking = tracking;
    }

    /** Serves the {@link InferenceModel} services of {@code context}'s framework, tracked until {@link #close()}. */
    public static ServedModels tracking(BundleContext context, PipelineService pipelines,
                                        PipelineModel.Limits limits) {
        ServiceTracker<InferenceModel, InferenceModel> tracker = new ServiceTracker<>(context, InferenceModel.class,
                null);
        tracker.open();
        Supplier<Collection<InferenceModel>> byRanking = () -> {
            // the tracked map is sorted by ServiceReference order: lowest ranking first
            List<InferenceModel> out = new ArrayList<>();
            for (java.util.Map.Entry<ServiceReference<InferenceModel>, InferenceModel> e
                    : tracker.getTracked().entrySet()) {
                out.add(0, e.getValue());
            }
            return out;
        };
        return new ServedModels(byRanking, pipelines, limits, tracker::close);
    }

    /** Every model served now, registered ones first, each name once. */
    public List<InferenceModel> all() {
        List<InferenceModel> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (InferenceModel m : registered.get()) {
            if (names.add(m.name())) {
                out.add(m);
            }
        }
        for (PipelineStatus p : pipelines.pipelines()) {
            if (names.add(p.name())) {
                out.add(new PipelineModel(pipelines, p.name(), limits));
            }
        }
        return out;
    }

    /** The model served under {@code name}, if any. */
    public Optional<InferenceModel> find(String name) {
        for (InferenceModel m : registered.get()) {
            if (m.name().equals(name)) {
                return Optional.of(m);
            }
        }
        return pipelines.status(name).map(p -> new PipelineModel(pipelines, p.name(), limits));
    }

    /** The names of the models that are ready, for messages. */
    public String readyNames() {
        List<String> ready = all().stream().filter(InferenceModel::ready).map(InferenceModel::name).toList();
        return ready.isEmpty() ? "none" : String.join(", ", ready);
    }

    /**
     * The server's readiness as the protocol's health routes report it: not draining, and at least one model
     * ready. One model that cannot serve (a pipeline whose part is missing) does not take the whole replica out of
     * a balancer: its own readiness ({@code /v2/models/{name}/ready}) says so.
     */
    public boolean ready(ServingState state) {
        return state.ready() && all().stream().anyMatch(InferenceModel::ready);
    }

    @Override
    public void close() {
        try {
            tracking.close();
        } catch (Exception e) {
            // a tracker's close does not fail; the framework may already be gone
        }
    }
}
