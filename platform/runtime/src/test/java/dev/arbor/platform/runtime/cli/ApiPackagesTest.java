package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.platform.runtime.cli.ApiPackages.Export;
import dev.arbor.platform.runtime.cli.ApiPackages.Offer;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.osgi.framework.Version;

class ApiPackagesTest {
    private static final String API = "dev.arbor.api 1.4.0";
    private static final String FRAMEWORK = "org.apache.felix.framework 7.0.5";

    @Test
    void linesAreSortedByPackageWithVersionAndBundle() {
        List<String> lines = ApiPackages.lines(List.of(
                new Export("dev.arbor.api.sampling", new Version(1, 2, 0), API),
                new Export("dev.arbor.api", new Version(1, 2, 0), API)));
        assertThat(lines).hasSize(2);
        assertThat(lines.get(0)).startsWith("dev.arbor.api ").contains("1.2.0").endsWith("(dev.arbor.api 1.4.0)");
        assertThat(lines.get(1)).startsWith("dev.arbor.api.sampling").contains("1.2.0");
    }

    @Test
    void everyPackageTheApiBundleExportsIsListedAndNoOtherBundlesPackage() {
        List<Export> listed = ApiPackages.select(List.of(
                offer(0, "java.util", "0.0.0", FRAMEWORK),
                offer(0, "org.osgi.framework", "1.10.0", FRAMEWORK),
                offer(5, "dev.arbor.api", "1.2.0", API),
                offer(5, "dev.arbor.api.sampling", "1.2.0", API),
                offer(5, "dev.arbor.backend.support", "1.1.0", API),
                // a plugin's own package that merely starts like the API's
                offer(9, "dev.arbor.api.contrib", "1.0.0", "com.example.contrib 1.0.0"),
                offer(9, "dev.arbor.autoregressive", "1.0.0", "dev.arbor.generation.autoregressive 0.1.0")));
        assertThat(listed).extracting(Export::name).containsExactly("dev.arbor.api", "dev.arbor.api.sampling",
                "dev.arbor.backend.support");
        assertThat(ApiPackages.lines(listed)).contains(String.format("%-32s %-8s (%s)", "dev.arbor.backend.support",
                "1.1.0", API));
    }

    @Test
    void twoApiBundlesSideBySideAreBothListed() {
        List<Export> listed = ApiPackages.select(List.of(
                offer(5, "dev.arbor.api", "1.2.0", API),
                offer(5, "dev.arbor.backend.support", "1.1.0", API),
                offer(6, "dev.arbor.api", "2.0.0", "dev.arbor.api 2.0.0"),
                offer(6, "dev.arbor.backend.support", "2.0.0", "dev.arbor.api 2.0.0")));
        assertThat(ApiPackages.lines(listed)).hasSize(4).element(1).asString()
                .startsWith("dev.arbor.api ").contains("2.0.0");
    }

    @Test
    void anApiOnTheFrameworkClassPathListsOnlyArborPackagesOfTheSystemBundle() {
        List<Export> listed = ApiPackages.select(List.of(
                offer(0, "java.util", "0.0.0", FRAMEWORK),
                offer(0, "org.osgi.framework", "1.10.0", FRAMEWORK),
                offer(0, "dev.arbor.api", "1.2.0", FRAMEWORK),
                offer(0, "dev.arbor.backend.support", "1.1.0", FRAMEWORK)));
        assertThat(listed).extracting(Export::name).containsExactly("dev.arbor.api", "dev.arbor.backend.support");
    }

    @Test
    void withoutAnApiBundleNothingIsListed() {
        assertThat(ApiPackages.select(List.of(offer(0, "java.util", "0.0.0", FRAMEWORK),
                offer(3, "dev.arbor.backend.support", "1.1.0", "somebody.else 1.0.0")))).isEmpty();
    }

    private static Offer offer(long bundle, String name, String version, String label) {
        return new Offer(bundle, new Export(name, Version.parseVersion(version), label));
    }
}
