package dev.arbor.platform.admin.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.platform.admin.internal.ApiPackageList.ApiPackage;
import dev.arbor.platform.admin.internal.ApiPackageList.Offer;
import java.util.List;
import org.junit.jupiter.api.Test;

class ApiPackageListTest {
    private static final String API = "dev.arbor.api 1.4.0";
    private static final String FRAMEWORK = "org.apache.felix.framework 7.0.5";

    @Test
    void everyPackageTheApiBundleExportsIsListedByNameAndNoOtherBundlesPackage() {
        List<ApiPackage> listed = ApiPackageList.select(List.of(
                offer(0, "org.osgi.framework", "1.10.0", FRAMEWORK),
                offer(5, "dev.arbor.backend.support", "1.1.0", API),
                offer(5, "dev.arbor.api.sampling", "1.2.0", API),
                offer(5, "dev.arbor.api", "1.2.0", API),
                offer(9, "dev.arbor.api.contrib", "1.0.0", "com.example.contrib 1.0.0")));
        assertThat(listed).containsExactly(new ApiPackage("dev.arbor.api", "1.2.0", API),
                new ApiPackage("dev.arbor.api.sampling", "1.2.0", API),
                new ApiPackage("dev.arbor.backend.support", "1.1.0", API));
    }

    @Test
    void anApiOnTheFrameworkClassPathListsOnlyArborPackagesOfTheSystemBundle() {
        List<ApiPackage> listed = ApiPackageList.select(List.of(
                offer(0, "javax.net", "0.0.0", FRAMEWORK),
                offer(0, "dev.arbor.api", "1.2.0", FRAMEWORK),
                offer(0, "dev.arbor.backend.support", "1.1.0", FRAMEWORK)));
        assertThat(listed).extracting(ApiPackage::name).containsExactly("dev.arbor.api", "dev.arbor.backend.support");
    }

    @Test
    void theConsoleLinesStartWithArborsVersion() {
        ApiPackageList.Listing listing = new ApiPackageList.Listing("0.1.0.SNAPSHOT",
                List.of(new ApiPackage("dev.arbor.backend.support", "1.1.0", API)));
        assertThat(listing.lines()).containsExactly("Arbor 0.1.0.SNAPSHOT", "API packages:",
                String.format("  %-32s %-8s (%s)", "dev.arbor.backend.support", "1.1.0", API));
    }

    private static Offer offer(long bundle, String name, String version, String label) {
        return new Offer(bundle, new ApiPackage(name, version, label));
    }
}
