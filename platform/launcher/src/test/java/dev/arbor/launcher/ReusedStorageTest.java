package dev.arbor.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleException;
import org.osgi.framework.startlevel.BundleStartLevel;

/**
 * A framework storage reused between runs ({@link ArborFramework#startReusing}) keeps only the installation's
 * unchanged bundles: a replaced jar, a bundle installed or updated at run time, bundle data and a run that did not stop
 * cleanly never carry over; concurrent runs never share a storage.
 */
class ReusedStorageTest {
    @TempDir
    Path home;
    private Path slots;

    @BeforeEach
    void installation() throws Exception {
        Files.createDirectories(home.resolve("bundles"));
        Files.write(home.resolve("bundles/shipped.jar"), BundleTrustTest.bundle("test.shipped"));
        slots = home.resolve("cache/framework");
    }

    @Test
    void aSecondRunFindsTheInstallationInstalledAndStartsItAgain() throws Exception {
        long firstId;
        try (ArborFramework first = ArborFramework.startReusing(home, slots, Map.of())) {
            firstId = bundle(first, "test.shipped").getBundleId();
            assertThat(first.framework().getBundleContext().getProperty("org.osgi.framework.storage"))
                    .isEqualTo(slots.resolve("slot-0").toString());
        }
        try (ArborFramework second = ArborFramework.startReusing(home, slots, Map.of())) {
            Bundle shipped = bundle(second, "test.shipped");
            assertThat(shipped.getBundleId()).as("the same installed bundle, not a new install").isEqualTo(firstId);
            assertThat(shipped.getState()).isEqualTo(Bundle.ACTIVE);
            assertThat(shipped.getLocation()).startsWith("reference:file:");
        }
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(slots.resolve("slot-0"))))
                .isEqualTo("rwx------");
    }

    @Test
    void aReusedBundleIsStartedByTheLauncherNotRememberedAsStarted() throws Exception {
        try (ArborFramework first = ArborFramework.startReusing(home, slots, Map.of())) {
            assertThat(bundle(first, "test.shipped").getState()).isEqualTo(Bundle.ACTIVE);
        }
        // a bundle the launcher does not start (LAZY_PROPERTY) must stay stopped even though the last run started it
        try (ArborFramework second = ArborFramework.startReusing(home, slots,
                Map.of(ArborFramework.LAZY_PROPERTY, "test\\.shipped"))) {
            Bundle shipped = bundle(second, "test.shipped");
            assertThat(shipped.getState()).isNotEqualTo(Bundle.ACTIVE);
            assertThat(shipped.adapt(BundleStartLevel.class).isPersistentlyStarted()).isFalse();
        }
    }

    @Test
    void aReplacedJarIsInstalledAnewNotTakenFromTheStorage() throws Exception {
        try (ArborFramework first = ArborFramework.startReusing(home, slots, Map.of())) {
            assertThat(bundle(first, "test.shipped").getVersion().toString()).isEqualTo("1.0.0");
        }
        Path jar = home.resolve("bundles/shipped.jar");
        Files.write(jar, BundleTrustTest.bundle("test.shipped", "2.0.0"));
        // even with the old modification time: the change time and file key still differ
        Files.setLastModifiedTime(jar, Files.getLastModifiedTime(jar));
        try (ArborFramework second = ArborFramework.startReusing(home, slots, Map.of())) {
            assertThat(bundle(second, "test.shipped").getVersion().toString()).isEqualTo("2.0.0");
            assertThat(bundle(second, "test.shipped").getState()).isEqualTo(Bundle.ACTIVE);
        }
    }

    @Test
    void bundlesInstalledOrUpdatedAtRunTimeDoNotOutliveTheRun() throws Exception {
        byte[] extra = BundleTrustTest.bundle("test.extra");
        Path policy = home.resolve("etc/trust/trusted-bundles.sha256");
        Files.createDirectories(policy.getParent());
        byte[] update = BundleTrustTest.bundle("test.shipped", "9.0.0");
        Path updateFile = Files.write(home.resolve("update.jar"), update);
        Path extraFile = Files.write(home.resolve("extra.jar"), extra);
        Files.writeString(policy, StoredBundleJar.sha256(extraFile) + "  extra\n" + StoredBundleJar.sha256(updateFile)
                + "  update\n");
        try (ArborFramework first = ArborFramework.startReusing(home, slots, Map.of())) {
            Bundle added = first.context().installBundle("inputstream:extra.jar", new ByteArrayInputStream(extra));
            added.start();
            // trusted bytes given to an installation bundle: they run now, and never count as the installation's
            bundle(first, "test.shipped").update(new ByteArrayInputStream(update));
            assertThat(bundle(first, "test.shipped").getVersion().toString()).isEqualTo("9.0.0");
        }
        try (ArborFramework second = ArborFramework.startReusing(home, slots, Map.of())) {
            assertThat(second.context().getBundles()).extracting(Bundle::getSymbolicName)
                    .doesNotContain("test.extra");
            assertThat(bundle(second, "test.shipped").getVersion().toString()).isEqualTo("1.0.0");
            assertThat(bundle(second, "test.shipped").getState()).isEqualTo(Bundle.ACTIVE);
        }
    }

    @Test
    void anUntrustedBundleFromTheLastRunIsGoneAndAnotherStillCannotResolve() throws Exception {
        try (ArborFramework first = ArborFramework.startReusing(home, slots, Map.of())) {
            first.context().installBundle("inputstream:evil.jar",
                    new ByteArrayInputStream(BundleTrustTest.bundle("test.evil")));
        }
        try (ArborFramework second = ArborFramework.startReusing(home, slots, Map.of())) {
            assertThat(second.context().getBundles()).extracting(Bundle::getSymbolicName)
                    .doesNotContain("test.evil");
            Bundle again = second.context().installBundle("inputstream:evil.jar",
                    new ByteArrayInputStream(BundleTrustTest.bundle("test.evil")));
            assertThatThrownBy(again::start).isInstanceOf(BundleException.class);
        }
    }

    @Test
    void bundleDataDoesNotCarryOver() throws Exception {
        Path marker;
        try (ArborFramework first = ArborFramework.startReusing(home, slots, Map.of())) {
            marker = bundle(first, "test.shipped").getDataFile("state").toPath();
            Files.writeString(marker, "from the first run");
        }
        try (ArborFramework second = ArborFramework.startReusing(home, slots, Map.of())) {
            assertThat(bundle(second, "test.shipped").getDataFile("state").toPath()).doesNotExist();
            assertThat(marker).doesNotExist();
        }
    }

    @Test
    void concurrentRunsUseSeparateStorages() throws Exception {
        try (ArborFramework first = ArborFramework.startReusing(home, slots, Map.of());
             ArborFramework second = ArborFramework.startReusing(home, slots, Map.of())) {
            assertThat(storage(first)).isNotEqualTo(storage(second));
            assertThat(bundle(first, "test.shipped").getState()).isEqualTo(Bundle.ACTIVE);
            assertThat(bundle(second, "test.shipped").getState()).isEqualTo(Bundle.ACTIVE);
        }
    }

    @Test
    void aSlotNotLeftCleanlyIsEmptiedBeforeUse() throws Exception {
        StorageSlot slot = StorageSlot.acquire(slots, "format a");
        assertThat(slot.reusable()).as("new").isFalse();
        Files.writeString(slot.folder().resolve("leftover"), "x");
        slot.closeCleanly();

        slot = StorageSlot.acquire(slots, "format a");
        assertThat(slot.reusable()).isTrue();
        assertThat(slot.folder().resolve("leftover")).exists();
        slot.close(); // released without the clean-stop marker, as a crash would leave it

        slot = StorageSlot.acquire(slots, "format a");
        assertThat(slot.reusable()).isFalse();
        assertThat(slot.folder().resolve("leftover")).doesNotExist();
        slot.closeCleanly();

        slot = StorageSlot.acquire(slots, "format b");
        try {
            assertThat(slot.reusable()).as("made by another launcher or framework").isFalse();
        } finally {
            slot.close();
        }
    }

    private static Path storage(ArborFramework runtime) {
        return Path.of(runtime.context().getProperty("org.osgi.framework.storage"));
    }

    private static Bundle bundle(ArborFramework runtime, String symbolicName) {
        for (Bundle b : runtime.context().getBundles()) {
            if (symbolicName.equals(b.getSymbolicName())) {
                return b;
            }
        }
        throw new AssertionError("no bundle " + symbolicName);
    }
}
