package dev.arbor.tests.security;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/**
 * Probes that change the installation (its trust file, its pipeline files) run one {@code bin/arbor serve} in a
 * private copy of it ({@link PrivateInstallation}), started before the class's tests and removed after them.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class PrivatelyServed {
    Path home;
    ServedArbor arbor;

    @BeforeAll
    void serve() throws Exception {
        home = PrivateInstallation.of(ServedArbor.distribution());
        arbor = ServedArbor.startIn(home, Map.of());
    }

    @AfterAll
    void stop() throws Exception {
        if (arbor != null) {
            arbor.close();
        }
        PrivateInstallation.delete(home);
    }
}
