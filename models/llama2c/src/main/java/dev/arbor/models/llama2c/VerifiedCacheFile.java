package dev.arbor.models.llama2c;

import dev.arbor.api.ArborException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.logging.Logger;

/**
 * A derived file in a cache folder that is only used when it verifies: each file {@code f} has a sidecar
 * {@code f.sha256} ("hex-digest size") written after {@code f} itself, and both are written to a temp file, flushed to
 * disk and renamed into place. A crash mid-write therefore leaves no file, a file without a sidecar, or a complete
 * pair; a truncated or altered file (disk full, a copy cut short, a bit flip) fails verification and is rebuilt
 * instead of failing every load until someone deletes it by hand.
 */
final class VerifiedCacheFile {
    private static final Logger LOG = Logger.getLogger(VerifiedCacheFile.class.getName());

    /** Writes the content of a cache file. */
    @FunctionalInterface
    interface Content {
        void writeTo(OutputStream out) throws IOException;
    }

    private VerifiedCacheFile() {
    }

    /** The sidecar holding {@code file}'s digest and size. */
    static Path sidecarOf(Path file) {
        return file.resolveSibling(file.getFileName() + ".sha256");
    }

    /**
     * True when {@code file} exists and matches its sidecar. A file that exists but does not verify is reported in
     * one WARNING line and deleted (with its sidecar) so that the caller rebuilds it.
     */
    static boolean usable(Path file) {
        if (!Files.isRegularFile(file)) {
            return false;
        }
        String problem = problem(file);
        if (problem == null) {
            return true;
        }
        LOG.warning(() -> "cached file " + file + " " + problem + "; rebuilding it");
        try {
            Files.deleteIfExists(sidecarOf(file));
            Files.deleteIfExists(file);
        } catch (IOException e) {
            // the rebuild replaces both by rename anyway
        }
        return false;
    }

    /** Why {@code file} does not verify, or null when it does. */
    private static String problem(Path file) {
        Path sidecar = sidecarOf(file);
        try {
            if (!Files.isRegularFile(sidecar)) {
                return "has no digest " + sidecar.getFileName() + " (its writing was interrupted)";
            }
            String[] recorded = Files.readString(sidecar, StandardCharsets.US_ASCII).trim().split(" ");
            if (recorded.length != 2) {
                return "has an unreadable digest file " + sidecar.getFileName();
            }
            long size = Files.size(file);
            if (!String.valueOf(size).equals(recorded[1])) {
                return "has " + size + " bytes but was written with " + recorded[1] + " (truncated or altered)";
            }
            // the memo spares re-reading an unchanged file (same size, times and inode) on every open
            if (!FileDigestMemo.sha256(file, file.toAbsolutePath().getParent(), VerifiedCacheFile::sha256)
                    .equals(recorded[0])) {
                return "does not match the SHA-256 it was written with (altered)";
            }
            return null;
        } catch (IOException e) {
            return "cannot be verified (" + e.getMessage() + ")";
        }
    }

    /**
     * Writes {@code target} and its sidecar atomically (temp file, flush to disk, rename), replacing any previous
     * pair; concurrent writers of identical content are safe.
     *
     * @throws IOException when the folder cannot be written
     */
    static void write(Path target, Content content) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        MessageDigest digest = newDigest();
        Path tmp = Files.createTempFile(dir, target.getFileName().toString(), ".tmp");
        try {
            long size;
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE);
                 OutputStream out = new DigestOutputStream(Channels.newOutputStream(ch), digest)) {
                content.writeTo(out);
                out.flush();
                ch.force(true);
                size = ch.size();
            }
            moveIntoPlace(tmp, target);
            String line = HexFormat.of().formatHex(digest.digest()) + " " + size + "\n";
            tmp = Files.createTempFile(dir, target.getFileName().toString(), ".sha256.tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.write(StandardCharsets.US_ASCII.encode(line));
                ch.force(true);
            }
            moveIntoPlace(tmp, sidecarOf(target));
            tmp = null;
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: a leftover .tmp file is never read
                }
            }
        }
    }

    private static void moveIntoPlace(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static String sha256(Path file) throws IOException {
        MessageDigest digest = newDigest();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                digest.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
