package dev.arbor.platform.runtime.internal;

import java.util.Map;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Modified;

/**
 * One component instance per pipeline: Config Admin factory configurations of PID {@value #FACTORY_PID} (one per
 * file in {@code etc/pipelines/}, or defined at run time) each become a {@link ConfiguredPipeline} service.
 * Reconfiguring a pipeline is a configuration update, so it takes effect without a restart.
 */
@Component(service = ConfiguredPipeline.class, configurationPid = PipelineComponent.FACTORY_PID,
        configurationPolicy = ConfigurationPolicy.REQUIRE)
public class PipelineComponent implements ConfiguredPipeline {
    public static final String FACTORY_PID = "dev.arbor.pipeline";
    public static final String NAME = "arbor.pipeline.name";
    public static final String JSON = "arbor.pipeline.json";
    public static final String SOURCE = "arbor.pipeline.source";

    private volatile String name;
    private volatile String json;
    private volatile String source;

    @Activate
    @Modified
    void configure(Map<String, Object> properties) {
        this.name = String.valueOf(properties.get(NAME));
        this.json = String.valueOf(properties.get(JSON));
        Object src = properties.get(SOURCE);
        this.source = src == null ? "configuration " + properties.get("service.pid") : src.toString();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String json() {
        return json;
    }

    @Override
    public String source() {
        return source;
    }
}
