package dev.arbor.platform.admin.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AdminCredentialsTest {
    private static final java.util.function.UnaryOperator<String> NO_ENV = name -> null;

    @Test
    void withNothingConfiguredARandomPasswordIsWrittenOwnerOnlyAndReusedNextTime(@TempDir Path etc) throws Exception {
        AdminCredentials first = AdminCredentials.load(etc, NO_ENV);
        Path file = etc.resolve("admin-password");
        String password = Files.readString(file).strip();
        assertThat(password).hasSizeGreaterThanOrEqualTo(20);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        assertThat(first.username()).isEqualTo("admin");
        assertThat(first.matches("admin", password)).isTrue();
        assertThat(first.matches("admin", "admin")).isFalse();
        assertThat(first.source()).contains(file.toString());
        assertThat(first.generated()).isTrue();

        AdminCredentials again = AdminCredentials.load(etc, NO_ENV);
        assertThat(again.matches("admin", password)).as("the generated password survives a restart").isTrue();
        assertThat(again.generated()).isFalse();
        assertThat(AdminCredentials.load(Files.createDirectories(etc.resolve("other")), NO_ENV)
                .matches("admin", password)).as("each installation gets its own").isFalse();
    }

    @Test
    void aClearPasswordInAnAdminJsonOthersMayReadIsReported(@TempDir Path etc) throws Exception {
        java.util.List<String> warnings = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Logger logger = java.util.logging.Logger.getLogger("dev.arbor.admin");
        java.util.logging.Handler capture = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord r) {
                warnings.add(r.getLevel() + " " + r.getMessage());
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        logger.addHandler(capture);
        try {
            Path json = etc.resolve("admin.json");
            Files.writeString(json, "{\"password\": \"s3cret\"}");
            Files.setPosixFilePermissions(json, PosixFilePermissions.fromString("rw-r--r--"));
            AdminCredentials.load(etc, NO_ENV);
            assertThat(warnings).anySatisfy(w -> assertThat(w).startsWith("WARNING").contains("chmod 600")
                    .doesNotContain("s3cret"));

            warnings.clear();
            Files.setPosixFilePermissions(json, PosixFilePermissions.fromString("rw-------"));
            AdminCredentials.load(etc, NO_ENV);
            assertThat(warnings).noneMatch(w -> w.contains("chmod 600"));
        } finally {
            logger.removeHandler(capture);
        }
    }

    @Test
    void adminJsonGivesUserAndPasswordInClearOrHashedAndTheEnvironmentOverridesThePassword(@TempDir Path etc)
            throws Exception {
        Files.writeString(etc.resolve("admin.json"), "{\"username\": \"ops\", \"password\": \"s3cret\"}");
        AdminCredentials json = AdminCredentials.load(etc, NO_ENV);
        assertThat(json.matches("ops", "s3cret")).isTrue();
        assertThat(json.matches("admin", "s3cret")).isFalse();
        assertThat(json.matches("ops", "s3cret ")).isFalse();
        assertThat(Files.exists(etc.resolve("admin-password"))).isFalse();

        AdminCredentials env = AdminCredentials.load(etc, Map.of(AdminCredentials.PASSWORD_ENV, "from-env")::get);
        assertThat(env.matches("ops", "from-env")).isTrue();
        assertThat(env.matches("ops", "s3cret")).isFalse();
        assertThat(env.source()).contains(AdminCredentials.PASSWORD_ENV);

        String hashed = "{sha-256}" + Base64.getEncoder().encodeToString(AdminCredentials.sha256("hashed-pw"));
        Files.writeString(etc.resolve("admin.json"), "{\"username\": \"ops\", \"password\": \"" + hashed + "\"}");
        assertThat(AdminCredentials.load(etc, NO_ENV).matches("ops", "hashed-pw")).isTrue();
    }

    @Test
    void aBrokenAdminJsonIsAnErrorNamingTheFileNotASilentFallback(@TempDir Path etc) throws Exception {
        Files.writeString(etc.resolve("admin.json"), "{\"username\": ");
        assertThatThrownBy(() -> AdminCredentials.load(etc, NO_ENV)).hasMessageContaining("admin.json")
                .hasMessageContaining("not valid JSON");
        Files.writeString(etc.resolve("admin.json"), "{\"username\": \"a:b\", \"password\": \"x\"}");
        assertThatThrownBy(() -> AdminCredentials.load(etc, NO_ENV)).hasMessageContaining("no ':'");
    }
}
