package dev.arbor.platform.http.internal;

import java.util.Map;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceEvent;
import org.osgi.framework.ServiceListener;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.cm.ConfigurationEvent;
import org.osgi.service.cm.ConfigurationListener;

/**
 * Counts swaps for the metrics: part services (by their API interface, named as strings so that this bundle needs
 * none of those packages) registering or leaving, and pipeline configurations being updated or deleted.
 */
final class SwapCounter implements AutoCloseable {
    /** Part interface name to the kind label used in the metric. */
    static final Map<String, String> PART_INTERFACES = Map.of(
            "dev.arbor.api.generation.Generator", "generator",
            "dev.arbor.api.sampling.LogitsProcessorFactory", "logits-processor",
            "dev.arbor.api.sampling.TokenSelectorFactory", "token-selector",
            "dev.arbor.api.model.ModelBackendProvider", "model-backend",
            "dev.arbor.api.tokenizer.TokenizerProvider", "tokenizer",
            "dev.arbor.api.postprocess.PostProcessor", "post-processor");
    /** The factory PID of pipeline configurations (the runtime's PipelineComponent). */
    static final String PIPELINE_FACTORY_PID = "dev.arbor.pipeline";

    private final BundleContext context;
    private final ServiceListener listener;
    private final ServiceRegistration<ConfigurationListener> configListener;

    SwapCounter(BundleContext context, ServerMetrics metrics) throws InvalidSyntaxException {
        this.context = context;
        this.listener = event -> {
            if (event.getType() == ServiceEvent.REGISTERED || event.getType() == ServiceEvent.UNREGISTERING) {
                for (String type : (String[]) event.getServiceReference().getProperty(Constants.OBJECTCLASS)) {
                    String kind = PART_INTERFACES.get(type);
                    if (kind != null) {
                        metrics.swap(kind);
                    }
                }
            }
        };
        StringBuilder filter = new StringBuilder("(|");
        PART_INTERFACES.keySet().forEach(type -> filter.append('(').append(Constants.OBJECTCLASS).append('=')
                .append(type).append(')'));
        context.addServiceListener(listener, filter.append(')').toString());
        ConfigurationListener configurations = event -> {
            if (PIPELINE_FACTORY_PID.equals(event.getFactoryPid())
                    && (event.getType() == ConfigurationEvent.CM_UPDATED
                    || event.getType() == ConfigurationEvent.CM_DELETED)) {
                metrics.swap("pipeline-config");
            }
        };
        this.configListener = context.registerService(ConfigurationListener.class, configurations, null);
    }

    @Override
    public void close() {
        context.removeServiceListener(listener);
        try {
            configListener.unregister();
        } catch (IllegalStateException e) {
            // already gone with the bundle
        }
    }
}
