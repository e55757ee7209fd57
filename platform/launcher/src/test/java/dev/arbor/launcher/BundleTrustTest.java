package dev.arbor.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleException;

/** The framework-wide trust policy, in a real Felix: whatever installs a bundle, untrusted bytes never resolve. */
class BundleTrustTest {
    @TempDir
    Path home;
    private ArborFramework runtime;
    private final List<String> audit = new CopyOnWriteArrayList<>();
    private final Logger auditLogger = Logger.getLogger(BundleTrust.AUDIT_LOGGER);
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            audit.add(record.getLevel() + " " + record.getMessage());
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    @BeforeEach
    void start() throws Exception {
        Files.createDirectories(home.resolve("bundles"));
        Files.write(home.resolve("bundles/shipped.jar"), bundle("test.shipped"));
        auditLogger.addHandler(capture);
        runtime = ArborFramework.start(home, home.resolve("storage"), Map.of());
    }

    @AfterEach
    void stop() throws Exception {
        auditLogger.removeHandler(capture);
        runtime.close();
    }

    @Test
    void theInstallationsOwnBundlesRunWithoutBeingListed() {
        Bundle shipped = bundle(runtime, "test.shipped");
        assertThat(shipped.getState()).isEqualTo(Bundle.ACTIVE);
        assertThat(audit).as("launching logs no install lines").isEmpty();
    }

    @Test
    void anUnlistedBundleInstalledFromAStreamNeverResolvesAndTheRefusalIsLogged() throws Exception {
        byte[] jar = bundle("test.untrusted");
        Bundle b = runtime.context().installBundle("inputstream:untrusted.jar", new java.io.ByteArrayInputStream(jar));
        assertThatThrownBy(b::start).isInstanceOf(BundleException.class);
        assertThat(b.getState()).isEqualTo(Bundle.INSTALLED);
        assertThat(audit).anySatisfy(line -> assertThat(line).startsWith("WARNING refused bundle test.untrusted")
                .contains(StoredBundleJar.sha256(write(jar))).contains("trusted-bundles.sha256"));

        // the operator lists its digest: the same bundle may now start, without reinstalling
        Path policy = home.resolve("etc/trust/trusted-bundles.sha256");
        Files.createDirectories(policy.getParent());
        Files.writeString(policy, StoredBundleJar.sha256(write(jar)) + "  untrusted.jar\n");
        b.start();
        assertThat(b.getState()).isEqualTo(Bundle.ACTIVE);
    }

    @Test
    void aLocationInsideTheInstallationDoesNotVouchForOtherBytes() throws Exception {
        String spoofed = home.resolve("bundles/shipped.jar").toUri().toString().replace("shipped", "other");
        Files.write(home.resolve("bundles/other.jar"), bundle("test.other"));
        Bundle b = runtime.context().installBundle(spoofed, new java.io.ByteArrayInputStream(bundle("test.evil")));
        assertThatThrownBy(b::start).isInstanceOf(BundleException.class);
        assertThat(audit).anySatisfy(line -> assertThat(line).startsWith("WARNING refused bundle test.evil"));

        // the real bytes of that jar, read from the installation, are the operator's
        b.uninstall();
        Bundle real = runtime.context().installBundle(spoofed);
        real.start();
        assertThat(real.getState()).isEqualTo(Bundle.ACTIVE);
        assertThat(audit).anySatisfy(line -> assertThat(line).startsWith("INFO installed bundle test.other")
                .contains("part of the installation"));
        assertThat(audit).anySatisfy(line -> assertThat(line).startsWith("INFO uninstalled bundle test.evil"));
    }

    @Test
    void anUpdateWithUntrustedBytesCannotResolve() throws Exception {
        Bundle shipped = bundle(runtime, "test.shipped");
        // the update replaces the bytes, then restarting the active bundle fails: the new revision cannot resolve
        assertThatThrownBy(() -> shipped.update(new java.io.ByteArrayInputStream(bundle("test.shipped", "2.0.0"))))
                .isInstanceOf(BundleException.class);
        assertThat(shipped.getState()).isNotEqualTo(Bundle.ACTIVE);
        assertThat(audit).anySatisfy(line -> assertThat(line).startsWith("WARNING refused bundle test.shipped 2.0.0")
                .contains("updated"));
    }

    @Test
    void theFrameworkStorageIsPrivateToTheUser() throws Exception {
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(home.resolve("storage"))))
                .isEqualTo("rwx------");
    }

    private Path write(byte[] jar) throws IOException {
        Path f = Files.createTempFile(home, "jar", ".jar");
        Files.write(f, jar);
        return f;
    }

    private static Bundle bundle(ArborFramework runtime, String symbolicName) {
        for (Bundle b : runtime.context().getBundles()) {
            if (symbolicName.equals(b.getSymbolicName())) {
                return b;
            }
        }
        throw new AssertionError("no bundle " + symbolicName);
    }

    static byte[] bundle(String symbolicName) throws IOException {
        return bundle(symbolicName, "1.0.0");
    }

    /** A bundle with a manifest only: enough to install, resolve and start. */
    static byte[] bundle(String symbolicName, String version) throws IOException {
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().putValue("Bundle-ManifestVersion", "2");
        m.getMainAttributes().putValue("Bundle-SymbolicName", symbolicName);
        m.getMainAttributes().putValue("Bundle-Version", version);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JarOutputStream jar = new JarOutputStream(out, m)) {
            jar.flush();
        }
        return out.toByteArray();
    }
}
