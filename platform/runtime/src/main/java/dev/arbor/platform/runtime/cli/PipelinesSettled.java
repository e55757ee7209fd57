package dev.arbor.platform.runtime.cli;

import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.platform.runtime.internal.PipelineComponent;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;

/**
 * Whether waiting could still change what the pipeline listing says, so a listing waits only while something is on
 * its way: a pipeline configuration Config Admin has not delivered yet, or a bundle in {@code deploy/} (the deploy
 * watcher installs it asynchronously and it may bring a missing part). The installation's own bundles have
 * registered their parts before the command line runs (the launcher starts them first). Once neither is pending, a
 * pipeline that is not ready stays so (a variable not set, a part no bundle provides, a model that fails to load).
 */
final class PipelinesSettled {
    private PipelinesSettled() {
    }

    /** True when {@code listed} is final: every stored pipeline configuration is listed and deploy/ holds no jar. */
    static boolean settled(List<PipelineStatus> listed, ConfigurationAdmin configurations, String deployFolder) {
        if (!listed.isEmpty() && listed.stream().allMatch(PipelineStatus::ready)) {
            return true;
        }
        return allDelivered(listed, configurations) && !deployHoldsJars(deployFolder);
    }

    private static boolean allDelivered(List<PipelineStatus> listed, ConfigurationAdmin configurations) {
        if (configurations == null) {
            return false; // cannot tell: keep waiting (up to the caller's deadline)
        }
        try {
            Configuration[] stored = configurations.listConfigurations("(service.factoryPid=" + PipelineComponent.FACTORY_PID
                    + ")");
            return stored == null || listed.size() >= stored.length;
        } catch (IOException | InvalidSyntaxException e) {
            return false; // unknown: keep waiting (up to the caller's deadline)
        }
    }

    private static boolean deployHoldsJars(String deployFolder) {
        if (deployFolder == null || !Files.isDirectory(Path.of(deployFolder))) {
            return false;
        }
        try (DirectoryStream<Path> jars = Files.newDirectoryStream(Path.of(deployFolder), "*.jar")) {
            return jars.iterator().hasNext();
        } catch (IOException e) {
            return true;
        }
    }
}
