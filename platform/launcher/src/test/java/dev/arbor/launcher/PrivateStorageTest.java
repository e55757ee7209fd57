package dev.arbor.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrivateStorageTest {
    @Test
    void aMissingStorageIsCreatedOwnerOnly(@TempDir Path dir) throws Exception {
        Path storage = PrivateStorage.cleaned(dir.resolve("a/storage"));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(storage))).isEqualTo("rwx------");
    }

    @Test
    void anEarlierStorageIsEmptiedAndMadeOwnerOnly(@TempDir Path dir) throws Exception {
        Path storage = Files.createDirectories(dir.resolve("storage/bundle1"));
        Files.writeString(storage.resolve("bundle.info"), "x");
        Files.setPosixFilePermissions(dir.resolve("storage"), PosixFilePermissions.fromString("rwxr-xr-x"));
        PrivateStorage.cleaned(dir.resolve("storage"));
        try (var left = Files.list(dir.resolve("storage"))) {
            assertThat(left).isEmpty();
        }
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("storage"))))
                .isEqualTo("rwx------");
    }

    @Test
    void restrictTakesGroupAndOtherRightsFromEverythingInside(@TempDir Path dir) throws Exception {
        Path inner = Files.createDirectories(dir.resolve("s/bundle1"));
        Path file = Files.writeString(inner.resolve("bundle.jar"), "x");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        Files.setPosixFilePermissions(inner, PosixFilePermissions.fromString("rwxr-xr-x"));
        PrivateStorage.restrict(dir.resolve("s"));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(inner))).isEqualTo("rwx------");
    }
}
