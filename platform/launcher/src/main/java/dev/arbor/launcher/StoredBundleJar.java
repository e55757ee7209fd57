package dev.arbor.launcher;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.apache.felix.framework.BundleRevisionImpl;
import org.apache.felix.framework.cache.JarContent;
import org.osgi.framework.wiring.BundleRevision;

/**
 * The jar a bundle revision runs from, as the framework keeps it (Felix copies installed bytes into its storage; a
 * {@code reference:} install runs from the referenced file). Felix-specific: the launcher embeds Felix.
 */
final class StoredBundleJar {
    private StoredBundleJar() {
    }

    /** The file holding {@code revision}'s bytes, or null when it has none (an exploded folder, another framework). */
    static Path of(BundleRevision revision) {
        if (revision instanceof BundleRevisionImpl felix && felix.getContent() instanceof JarContent jar
                && jar.getFile() != null) {
            return jar.getFile().toPath();
        }
        return null;
    }

    /** The SHA-256 of {@code file} in lower-case hex. */
    static String sha256(Path file) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JRE has no SHA-256", e);
        }
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), sha)) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(sha.digest());
    }
}
