package dev.arbor.tests.security;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Secrets at rest: with {@code bin/arbor serve} running under an API key and an admin password, the framework
 * storage is the user's alone and holds neither secret in clear, and the Web Console does not show the key.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SecretsAtRestIT {
    private static final Set<PosixFilePermission> GROUP_OR_OTHERS = EnumSet.of(PosixFilePermission.GROUP_READ,
            PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ,
            PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);

    private Path tmp;
    private ServedArbor arbor;
    private Path storage;

    @BeforeAll
    void serve() throws Exception {
        // a temporary folder of its own, so this server's framework storage (arbor-felix-*) is the only one there
        tmp = Files.createTempDirectory("arbor-secrets-it-");
        arbor = ServedArbor.start(Map.of("JAVA_OPTS", "-Djava.io.tmpdir=" + tmp));
        try (Stream<Path> list = Files.list(tmp)) {
            List<Path> found = list.filter(p -> p.getFileName().toString().startsWith("arbor-felix-")).toList();
            assertThat(found).as("the framework storage under %s", tmp).hasSize(1);
            storage = found.get(0);
        }
        // the key works (so the server holds something that verifies it) ...
        assertThat(arbor.get("/v1/models").statusCode()).isEqualTo(200);
        // ... and a wrong one does not
        HttpResponse<String> wrong = arbor.http.send(HttpRequest.newBuilder(arbor.api("/v1/models"))
                .header("Authorization", "Bearer not-" + ServedArbor.API_KEY).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(wrong.statusCode()).isEqualTo(401);
    }

    @AfterAll
    void stop() throws Exception {
        if (arbor != null) {
            arbor.close();
        }
        if (tmp != null) {
            try (Stream<Path> walk = Files.walk(tmp)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void noFileOfTheFrameworkStorageHoldsTheApiKeyOrTheAdminPasswordInClear() throws Exception {
        byte[] key = ServedArbor.API_KEY.getBytes(StandardCharsets.UTF_8);
        byte[] password = ServedArbor.ADMIN_PASSWORD.getBytes(StandardCharsets.UTF_8);
        List<Path> holding = new ArrayList<>();
        int files = 0;
        try (Stream<Path> walk = Files.walk(storage)) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                files++;
                byte[] bytes = Files.readAllBytes(p);
                if (contains(bytes, key) || contains(bytes, password)) {
                    holding.add(p);
                }
            }
        }
        assertThat(files).as("the storage holds the bundles and configurations").isGreaterThan(40);
        assertThat(holding).as("files holding a secret in clear").isEmpty();
    }

    @Test
    void theFrameworkStorageIsPrivateToItsUser() throws Exception {
        List<String> open = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(storage)) {
            for (Path p : walk.filter(p -> !Files.isSymbolicLink(p)).toList()) {
                Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(p);
                boolean ok = Files.isDirectory(p)
                        ? PosixFilePermissions.toString(permissions).equals("rwx------")
                        : permissions.stream().noneMatch(GROUP_OR_OTHERS::contains);
                if (!ok) {
                    open.add(PosixFilePermissions.toString(permissions) + " " + storage.relativize(p));
                }
            }
        }
        assertThat(open).as("folders not 0700 and files readable by others").isEmpty();
    }

    @Test
    void theWebConsoleDoesNotShowTheApiKey() throws Exception {
        for (String page : List.of("/system/console/configMgr/dev.arbor.http", "/system/console/configMgr",
                "/system/console/status-Configurations.txt")) {
            HttpRequest.Builder request = arbor.adminRequest(page);
            request = page.endsWith("dev.arbor.http") ? request.POST(HttpRequest.BodyPublishers.noBody())
                    : request.GET();
            HttpResponse<String> response = arbor.http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).as(page).isEqualTo(200);
            assertThat(response.body()).as(page).doesNotContain(ServedArbor.API_KEY);
            if (page.endsWith("dev.arbor.http")) {
                assertThat(response.body()).as("the console shows the configuration, hashed")
                        .contains("api_key_hash").contains("{SSHA256}");
            }
        }
        assertThat(arbor.log()).doesNotContain(ServedArbor.API_KEY).doesNotContain(ServedArbor.ADMIN_PASSWORD);
    }

    private static boolean contains(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            if (haystack[i] != needle[0]) {
                continue;
            }
            for (int j = 1; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }
}
