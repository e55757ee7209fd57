package dev.arbor.onnxruntime.runtime;

import ai.onnxruntime.OrtEnvironment;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.CodeSource;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * ONNX Runtime's native libraries extracted once into the installation's cache and loaded from there through ORT's
 * own {@code onnxruntime.native.path} property, instead of into a new {@code /tmp/onnxruntime-java*} folder by every
 * process (28 MB written per start).
 *
 * <p>The folder {@code <arbor.cache>/onnxruntime/<os-arch>} holds the libraries and {@code natives.manifest}: per
 * library its name, size, SHA-256 and the file's identity (size, modification and status-change times, inode) when
 * it was checked, and the identity of the jar they came from. A start trusts the cached copy only when the jar and
 * every library still have the recorded identity (a write, copy or {@code touch} changes the status-change time or
 * inode); otherwise it hashes the jar's resources and the cached files again, and re-extracts whatever differs. The
 * manifest is written last, after the libraries are renamed into place, so an interrupted extraction is redone.
 *
 * <p>Nothing is done when the user set {@code onnxruntime.native.path} already, when {@code arbor.cache} is unset
 * (tests, plain JVMs), on a platform without the POSIX file attributes, or when the cache cannot be written: ORT then
 * extracts into a temporary folder as before.
 */
final class NativeLibraryCache {
    static final String NATIVE_PATH = "onnxruntime.native.path";
    /** JVM-wide: the cached folder a class loader of this JVM has loaded the libraries from. */
    static final String LOADED = "arbor.onnxruntime.natives.loaded";
    private static final Logger LOG = Logger.getLogger(NativeLibraryCache.class.getName());
    private static final String MANIFEST = "natives.manifest";
    /** Libraries ORT loads or looks for in its native path (the provider libraries exist only in the GPU jar). */
    private static final List<String> LIBRARIES = List.of("onnxruntime", "onnxruntime4j_jni",
            "onnxruntime_providers_shared", "onnxruntime_providers_cuda", "onnxruntime_providers_tensorrt");

    private NativeLibraryCache() {
    }

    /**
     * Points {@code onnxruntime.native.path} at the verified cached copy and says whether it did; see the class comment
     * for when not. Once a class loader of this JVM loaded the cached libraries (an earlier instance of this bundle:
     * a bundle update, or another framework in the same JVM, as the in-framework tests start), later ones are left to
     * ORT's private temporary copy: the JVM refuses to load one library file into two class loaders.
     */
    static boolean prepare() {
        String cache = System.getProperty("arbor.cache");
        String osArch = osArch();
        if (System.getProperty(LOADED) != null || System.getProperty(NATIVE_PATH) != null || cache == null
                || osArch == null) {
            return false;
        }
        Path dir = Path.of(cache, "onnxruntime", osArch);
        try {
            if (verified(dir, osArch)) {
                System.setProperty(NATIVE_PATH, dir.toString());
                return true;
            }
        } catch (IOException | RuntimeException e) {
            LOG.fine(() -> "ONNX Runtime natives not cached in " + dir + " (" + e + "); ORT extracts them itself");
        }
        return false;
    }

    /**
     * After ORT loaded (or failed to load) what {@link #prepare()} pointed it at: marks the cached libraries as taken
     * by this class loader, takes the property back (ORT reads it only while loading) and removes ORT's empty
     * temporary folder.
     */
    static void loaded() {
        String dir = System.getProperty(NATIVE_PATH);
        if (dir != null) {
            System.setProperty(LOADED, dir);
            System.clearProperty(NATIVE_PATH);
            removeEmptyTempFolder();
        }
    }

    /**
     * Deletes the folder ORT creates in {@code java.io.tmpdir} on every load even when it loads from
     * {@code onnxruntime.native.path} (its own clean-up is a delete-on-exit that a killed JVM never runs, which left
     * thousands of empty folders). Only this process's folder (ORT's private field), and only when empty.
     */
    private static void removeEmptyTempFolder() {
        try {
            java.lang.reflect.Field field = Class.forName("ai.onnxruntime.OnnxRuntime", false,
                    OrtEnvironment.class.getClassLoader()).getDeclaredField("tempDirectory");
            field.setAccessible(true);
            Object folder = field.get(null);
            if (folder instanceof Path path) {
                Files.deleteIfExists(path);
            }
        } catch (ReflectiveOperationException | IOException | RuntimeException e) {
            // another ORT version, or not empty: its own delete-on-exit remains
            LOG.fine(() -> "ONNX Runtime's temporary folder left to its own clean-up: " + e);
        }
    }

    /** True when {@code dir} holds this jar's libraries, extracting or re-checking them as needed. */
    static boolean verified(Path dir, String osArch) throws IOException {
        Path jar = sourceJar();
        String jarIdentity = jar == null ? null : identity(jar);
        Map<String, String[]> recorded = readManifest(dir.resolve(MANIFEST));
        if (jarIdentity != null && jarIdentity.equals(recorded.getOrDefault("jar", new String[1])[0])
                && recorded.size() > 1 && filesUnchanged(dir, recorded)) {
            return true;
        }
        // the slow path: hash every library of the jar, keep the cached ones that match, extract the rest
        Map<String, String[]> fresh = new LinkedHashMap<>();
        if (jarIdentity != null) {
            fresh.put("jar", new String[] {jarIdentity});
        }
        Files.createDirectories(dir);
        for (String library : LIBRARIES) {
            String name = System.mapLibraryName(library);
            URL resource = OrtEnvironment.class.getResource("/ai/onnxruntime/native/" + osArch + "/" + name);
            if (resource == null) {
                continue;
            }
            Path target = dir.resolve(name);
            String[] known = recorded.get(name);
            String digest = sha256(resource);
            if (known == null || !known[1].equals(digest) || !Files.isRegularFile(target)
                    || !digest.equals(sha256(target))) {
                extract(resource, target);
            }
            fresh.put(name, new String[] {String.valueOf(Files.size(target)), digest, identity(target)});
        }
        if (!fresh.containsKey(System.mapLibraryName("onnxruntime"))) {
            return false; // a jar without natives for this platform: let ORT report it
        }
        writeManifest(dir, fresh);
        return true;
    }

    private static boolean filesUnchanged(Path dir, Map<String, String[]> recorded) throws IOException {
        for (Map.Entry<String, String[]> e : recorded.entrySet()) {
            if (e.getKey().equals("jar")) {
                continue;
            }
            Path file = dir.resolve(e.getKey());
            if (!Files.isRegularFile(file) || !identity(file).equals(e.getValue()[2])) {
                return false;
            }
        }
        return true;
    }

    /** The jar holding ORT's classes (the bundle's location in OSGi), or null when it is not a local file. */
    private static Path sourceJar() {
        CodeSource source = OrtEnvironment.class.getProtectionDomain().getCodeSource();
        if (source == null || source.getLocation() == null) {
            return null;
        }
        String location = source.getLocation().toString();
        location = location.startsWith("reference:") ? location.substring("reference:".length()) : location;
        if (!location.startsWith("file:")) {
            return null;
        }
        try {
            Path jar = Path.of(new java.net.URI(location));
            return Files.isRegularFile(jar) ? jar : null;
        } catch (URISyntaxException | IllegalArgumentException e) {
            return null;
        }
    }

    /** Size, modification time, status-change time, device and inode: what changes whenever the file does. */
    static String identity(Path file) throws IOException {
        Map<String, Object> a = Files.readAttributes(file, "unix:size,lastModifiedTime,ctime,dev,ino");
        return a.get("size") + ":" + ((FileTime) a.get("lastModifiedTime")).to(TimeUnit.NANOSECONDS) + ":"
                + ((FileTime) a.get("ctime")).to(TimeUnit.NANOSECONDS) + ":" + a.get("dev") + ":" + a.get("ino");
    }

    private static void extract(URL resource, Path target) throws IOException {
        Path tmp = Files.createTempFile(target.getParent(), target.getFileName().toString(), ".tmp");
        try {
            try (InputStream in = resource.openStream()) {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static Map<String, String[]> readManifest(Path manifest) {
        Map<String, String[]> entries = new LinkedHashMap<>();
        try {
            for (String line : Files.readAllLines(manifest, StandardCharsets.UTF_8)) {
                String[] f = line.split(" ");
                if (f.length == 2 && f[0].equals("jar")) {
                    entries.put("jar", new String[] {f[1]});
                } else if (f.length == 4) {
                    entries.put(f[0], new String[] {f[1], f[2], f[3]});
                }
            }
        } catch (IOException absent) {
            // first run: extract
        }
        return entries;
    }

    private static void writeManifest(Path dir, Map<String, String[]> entries) throws IOException {
        List<String> lines = new ArrayList<>();
        entries.forEach((name, f) -> lines.add(name + " " + String.join(" ", f)));
        Path tmp = Files.createTempFile(dir, MANIFEST, ".tmp");
        try {
            Files.write(tmp, lines, StandardCharsets.UTF_8);
            try {
                Files.move(tmp, dir.resolve(MANIFEST), StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, dir.resolve(MANIFEST), StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static String sha256(URL resource) throws IOException {
        try (InputStream in = resource.openStream()) {
            return sha256(in);
        }
    }

    private static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return sha256(in);
        }
    }

    private static String sha256(InputStream in) throws IOException {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            try (OutputStream sink = new DigestOutputStream(OutputStream.nullOutputStream(), digest)) {
                in.transferTo(sink);
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    /** ORT's resource folder name for this platform (linux-x64, osx-aarch64, ...), or null for others. */
    static String osArch() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.contains("linux") ? "linux" : os.contains("mac") || os.contains("darwin") ? "osx" : null;
        String a = arch.equals("amd64") || arch.equals("x86_64") ? "x64" : arch.equals("aarch64") ? "aarch64" : null;
        return o == null || a == null ? null : o + "-" + a;
    }
}
