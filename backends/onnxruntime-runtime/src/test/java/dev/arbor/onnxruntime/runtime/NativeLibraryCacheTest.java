package dev.arbor.onnxruntime.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The natives' cache: extracted once, kept while unchanged, re-extracted when a cached library differs. */
class NativeLibraryCacheTest {
    @TempDir
    Path cache;
    private String osArch;
    private Path dir;

    @BeforeEach
    void platform() {
        osArch = NativeLibraryCache.osArch();
        assumeTrue(osArch != null, "ONNX Runtime ships natives for this platform");
        dir = cache.resolve(osArch);
    }

    private byte[] resource(String name) throws IOException {
        try (InputStream in = ai.onnxruntime.OrtEnvironment.class.getResourceAsStream(
                "/ai/onnxruntime/native/" + osArch + "/" + name)) {
            return in.readAllBytes();
        }
    }

    @Test
    void theLibrariesAreExtractedOnceAndKeptWhileUnchanged() throws IOException {
        String jni = System.mapLibraryName("onnxruntime4j_jni");
        assertThat(NativeLibraryCache.verified(dir, osArch)).isTrue();
        assertThat(Files.readAllBytes(dir.resolve(jni))).isEqualTo(resource(jni));
        String identity = NativeLibraryCache.identity(dir.resolve(jni));
        String manifest = Files.readString(dir.resolve("natives.manifest"));

        assertThat(NativeLibraryCache.verified(dir, osArch)).isTrue();
        // same inode and times: not written again
        assertThat(NativeLibraryCache.identity(dir.resolve(jni))).isEqualTo(identity);
        assertThat(Files.readString(dir.resolve("natives.manifest"))).isEqualTo(manifest);
    }

    @Test
    void anAlteredLibraryIsReplacedByTheJarsCopy() throws IOException {
        String jni = System.mapLibraryName("onnxruntime4j_jni");
        NativeLibraryCache.verified(dir, osArch);
        byte[] altered = Files.readAllBytes(dir.resolve(jni));
        Arrays.fill(altered, 100, 200, (byte) 0x90); // same size, different bytes
        Files.write(dir.resolve(jni), altered);

        assertThat(NativeLibraryCache.verified(dir, osArch)).isTrue();
        assertThat(Files.readAllBytes(dir.resolve(jni))).isEqualTo(resource(jni));
    }

    @Test
    void aMissingLibraryIsExtractedAgain() throws IOException {
        String ort = System.mapLibraryName("onnxruntime");
        NativeLibraryCache.verified(dir, osArch);
        Files.delete(dir.resolve(ort));

        assertThat(NativeLibraryCache.verified(dir, osArch)).isTrue();
        assertThat(Files.size(dir.resolve(ort))).isEqualTo(resource(ort).length);
    }

    @Test
    void eachLaterClassLoaderOfTheBundleLoadsAPrivateCopyInsteadOfFailing() throws Exception {
        // as a bundle update or a second framework in one JVM does: the JVM refuses one library file in two loaders
        java.net.URL[] urls = {location(OrtRuntime.class), location(ai.onnxruntime.OrtEnvironment.class),
                location(org.osgi.framework.BundleContext.class)};
        String cacheRoot = cache.resolve("arbor-cache").toString();
        System.setProperty("arbor.cache", cacheRoot);
        try {
            for (int i = 0; i < 2; i++) {
                try (java.net.URLClassLoader bundle = new java.net.URLClassLoader(urls,
                        ClassLoader.getPlatformClassLoader())) {
                    Object env = bundle.loadClass(OrtRuntime.class.getName()).getMethod("environment").invoke(null);
                    assertThat(env).as("loader %d", i).isNotNull();
                }
                assertThat(System.getProperty(NativeLibraryCache.LOADED))
                        .isEqualTo(Path.of(cacheRoot, "onnxruntime", osArch).toString());
                assertThat(System.getProperty(NativeLibraryCache.NATIVE_PATH)).isNull();
            }
        } finally {
            System.clearProperty("arbor.cache");
            System.clearProperty(NativeLibraryCache.LOADED);
        }
    }

    private static java.net.URL location(Class<?> type) {
        return type.getProtectionDomain().getCodeSource().getLocation();
    }
}
