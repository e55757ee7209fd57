package dev.arbor.platform.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import org.osgi.framework.Constants;
import org.osgi.framework.Version;

/**
 * A jar as the trust policy and the deploy watcher see it: the SHA-256 of its bytes and, when it is an OSGi bundle,
 * its {@code Bundle-SymbolicName} (without directives) and {@code Bundle-Version}.
 *
 * @param symbolicName null when the manifest names none (the jar is not a bundle)
 * @param version {@code 0.0.0} when the manifest gives none; null when there is no symbolic name
 * @since 1.1.0
 */
public record BundleFile(Path path, String sha256, String symbolicName, Version version) {
    /** Hashes {@code jar} and reads its manifest; a jar whose Bundle-Version is not a version is an error. */
    public static BundleFile read(Path jar) throws IOException {
        return withDigest(jar, sha256(jar));
    }

    /**
     * {@code jar}, whose SHA-256 the caller computed from exactly these bytes (e.g. while copying them), with the
     * name and version its manifest gives.
     *
     * @throws IOException when {@code jar} is not a readable jar
     * @throws IllegalArgumentException when the Bundle-Version is malformed (the message says which and why)
     */
    public static BundleFile withDigest(Path jar, String sha256) throws IOException {
        Manifest manifest;
        try (JarFile file = new JarFile(jar.toFile(), false)) {
            manifest = file.getManifest();
        }
        String name = manifest == null ? null : manifest.getMainAttributes().getValue(Constants.BUNDLE_SYMBOLICNAME);
        if (name == null || name.isBlank()) {
            return new BundleFile(jar, sha256, null, null);
        }
        int directive = name.indexOf(';');
        String symbolicName = (directive < 0 ? name : name.substring(0, directive)).strip();
        String version = manifest.getMainAttributes().getValue(Constants.BUNDLE_VERSION);
        String text = version == null || version.isBlank() ? "0.0.0" : version.strip();
        try {
            return new BundleFile(jar, sha256, symbolicName, Version.parseVersion(text));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(jar.getFileName() + " has Bundle-Version '" + text + "', which is not"
                    + " an OSGi version (major.minor.micro.qualifier): " + e.getMessage(), e);
        }
    }

    /** True when the manifest names a Bundle-SymbolicName: the framework can install it. */
    public boolean isBundle() {
        return symbolicName != null;
    }

    /** The bundle's name and version as {@code name version}, or the file name when it is not a bundle. */
    public String describe() {
        return symbolicName == null ? path.getFileName().toString() : symbolicName + " " + version;
    }

    /** The SHA-256 of the bytes of {@code file}, lower-case hex (the trust policy's form). */
    public static String sha256(Path file) throws IOException {
        MessageDigest sha256;
        try {
            sha256 = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException ex) {
            throw new IllegalStateException("this JVM offers no SHA-256", ex);
        }
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), sha256)) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(sha256.digest());
    }
}
