package dev.arbor.platform.http.internal;

import dev.arbor.api.PartProperties;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.pipeline.PipelineService;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;

/** Metric labels from what the runtime has now: the configured pipelines and the registered generators' names. */
final class ConfiguredNames implements MetricLabels {
    private final PipelineService pipelines;
    private final BundleContext context;

    ConfiguredNames(PipelineService pipelines, BundleContext context) {
        this.pipelines = pipelines;
        this.context = context;
    }

    @Override
    public String pipeline(String name) {
        return name != null && pipelines.status(name).isPresent() ? name : UNKNOWN;
    }

    @Override
    public String generator(String name) {
        if (name == null) {
            return UNKNOWN;
        }
        try {
            // compared here rather than put into a filter: a name is not to be trusted with LDAP syntax
            for (ServiceReference<Generator> ref : context.getServiceReferences(Generator.class, null)) {
                if (name.equals(ref.getProperty(PartProperties.NAME))) {
                    return name;
                }
            }
        } catch (InvalidSyntaxException | IllegalStateException e) {
            // no filter given; or the bundle is stopping: nothing is known any more
        }
        return UNKNOWN;
    }
}
