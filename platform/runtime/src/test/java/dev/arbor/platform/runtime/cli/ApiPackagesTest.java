package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.osgi.framework.Version;

class ApiPackagesTest {
    @Test
    void linesAreSortedByPackageWithVersionAndBundle() {
        List<String> lines = ApiPackages.lines(List.of(
                new ApiPackages.Export("dev.arbor.api.sampling", new Version(1, 2, 0), "dev.arbor.api 0.1.0"),
                new ApiPackages.Export("dev.arbor.api", new Version(1, 2, 0), "dev.arbor.api 0.1.0")));
        assertThat(lines).hasSize(2);
        assertThat(lines.get(0)).startsWith("dev.arbor.api ").contains("1.2.0").endsWith("(dev.arbor.api 0.1.0)");
        assertThat(lines.get(1)).startsWith("dev.arbor.api.sampling").contains("1.2.0");
    }
}
