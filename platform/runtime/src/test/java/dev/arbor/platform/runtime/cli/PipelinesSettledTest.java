package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.pipeline.PipelineStatus;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;

/** A pipeline listing waits only while a configuration or a deploy/ bundle is still on its way. */
class PipelinesSettledTest {
    @TempDir
    Path deploy;

    private static final PipelineStatus READY = new PipelineStatus("a", true, List.of(), null);
    private static final PipelineStatus NEVER = new PipelineStatus("b", false,
            List.of("a valid pipeline file (uses ${x}, which is not set)"), null);

    @Test
    void allReadyIsSettled() {
        assertThat(PipelinesSettled.settled(List.of(READY), storing(5), deploy.toString())).isTrue();
    }

    @Test
    void aPipelineThatCannotBecomeReadyDoesNotHoldTheListingOnceEverythingArrived() {
        assertThat(PipelinesSettled.settled(List.of(READY, NEVER), storing(2), deploy.toString())).isTrue();
    }

    @Test
    void aConfigurationNotYetDeliveredIsWaitedFor() {
        assertThat(PipelinesSettled.settled(List.of(READY, NEVER), storing(3), deploy.toString())).isFalse();
        assertThat(PipelinesSettled.settled(List.of(), storing(1), deploy.toString())).isFalse();
    }

    @Test
    void aBundleInDeployMayStillBringAMissingPart() throws Exception {
        Files.writeString(deploy.resolve("plugin.jar"), "x");
        assertThat(PipelinesSettled.settled(List.of(READY, NEVER), storing(2), deploy.toString())).isFalse();
        assertThat(PipelinesSettled.settled(List.of(READY), storing(1), deploy.toString())).as("all ready").isTrue();
    }

    /** A Config Admin holding {@code n} pipeline configurations. */
    private static ConfigurationAdmin storing(int n) {
        return (ConfigurationAdmin) Proxy.newProxyInstance(PipelinesSettledTest.class.getClassLoader(),
                new Class<?>[] {ConfigurationAdmin.class}, (proxy, method, args) -> {
                    if (method.getName().equals("listConfigurations")) {
                        assertThat((String) args[0]).contains("dev.arbor.pipeline");
                        return n == 0 ? null : new Configuration[n];
                    }
                    throw new UnsupportedOperationException(method.getName());
                });
    }
}
