package dev.arbor.models.llama2c;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A memo of files' SHA-256 in a cache folder, so that an unchanged model is not read through on every open (two
 * 8 MB passes cost a one-shot command about 0.2 s of CPU). An entry holds the file's identity at hashing time: its
 * real path, size, modification time, status-change time (ctime) and device and inode. Any write, truncation,
 * rename over, copy in place or {@code touch -d} back in time changes the ctime (which no system call can set) or the
 * inode, so a changed file never matches a stale entry; on a file system without ctime and inode (the POSIX
 * {@code unix} attribute view absent) nothing is memoised and every call hashes.
 *
 * <p>As git's index does against "racy" entries, a digest is only recorded when the file's times are at least
 * {@link #SETTLE_NANOS} older than the moment hashing began and its identity is the same before and after hashing,
 * so a write landing in the same clock tick as the hashing cannot hide behind an unchanged time stamp.
 *
 * <p>Trust: the memo lives in the same cache folder as the converted models and their digests; whoever can write
 * there can already replace a cached model and its sidecar, so the memo grants nothing new. Entries are named by the
 * digest of the path, so there is at most one per file.
 */
final class FileDigestMemo {
    /** How much older than the hashing a file's times must be before its digest is recorded. */
    static final long SETTLE_NANOS = TimeUnit.SECONDS.toNanos(2);
    private static final String FOLDER = "digests";

    /** Computes a file's hex SHA-256 when the memo has no valid entry. */
    @FunctionalInterface
    interface Hasher {
        String sha256(Path file) throws IOException;
    }

    private FileDigestMemo() {
    }

    /**
     * {@code file}'s hex SHA-256: from the memo under {@code cacheDir} when an entry matches the file's current
     * identity, else from {@code hasher} (and then recorded when the file has settled).
     *
     * @throws IOException from {@code hasher} or when {@code file} cannot be read
     */
    static String sha256(Path file, Path cacheDir, Hasher hasher) throws IOException {
        return sha256(file, cacheDir, hasher, SETTLE_NANOS);
    }

    /** As {@link #sha256(Path, Path, Hasher)}, recording files whose times are {@code settleNanos} old. */
    static String sha256(Path file, Path cacheDir, Hasher hasher, long settleNanos) throws IOException {
        String before = identity(file);
        Path entry = before == null ? null : entryOf(file, cacheDir);
        if (entry != null) {
            String memo = read(entry, before);
            if (memo != null) {
                return memo;
            }
        }
        long started = System.currentTimeMillis();
        String digest = hasher.sha256(file);
        if (entry != null && before.equals(identity(file)) && settled(file, started, settleNanos)) {
            write(entry, before, digest);
        }
        return digest;
    }

    /** The key line: real path, size, mtime, ctime, device and inode; null without ctime or inode. */
    static String identity(Path file) throws IOException {
        Map<String, Object> a;
        try {
            a = Files.readAttributes(file, "unix:size,lastModifiedTime,ctime,dev,ino");
        } catch (UnsupportedOperationException | IllegalArgumentException noUnixView) {
            return null;
        }
        Object ctime = a.get("ctime");
        Object ino = a.get("ino");
        if (ctime == null || ino == null) {
            return null;
        }
        return file.toRealPath() + "\t" + a.get("size") + "\t" + nanos(a.get("lastModifiedTime")) + "\t"
                + nanos(ctime) + "\t" + a.get("dev") + "\t" + ino;
    }

    private static long nanos(Object time) {
        return ((FileTime) time).to(TimeUnit.NANOSECONDS);
    }

    private static boolean settled(Path file, long startedMillis, long settleNanos) throws IOException {
        Map<String, Object> a = Files.readAttributes(file, "unix:lastModifiedTime,ctime");
        long limit = TimeUnit.MILLISECONDS.toNanos(startedMillis) - settleNanos;
        return nanos(a.get("lastModifiedTime")) <= limit && nanos(a.get("ctime")) <= limit;
    }

    private static Path entryOf(Path file, Path cacheDir) throws IOException {
        try {
            byte[] name = MessageDigest.getInstance("SHA-256")
                    .digest(file.toRealPath().toString().getBytes(StandardCharsets.UTF_8));
            return cacheDir.resolve(FOLDER).resolve(HexFormat.of().formatHex(name));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    /** The recorded digest when the entry's key line is {@code identity}, else null. */
    private static String read(Path entry, String identity) {
        try {
            String[] lines = Files.readString(entry, StandardCharsets.UTF_8).split("\n");
            if (lines.length == 2 && lines[0].equals(identity) && lines[1].matches("[0-9a-f]{64}")) {
                return lines[1];
            }
        } catch (IOException | RuntimeException absentOrUnreadable) {
            // no memo: hash
        }
        return null;
    }

    /** Best effort: a memo that cannot be written only costs the next call a hash. */
    private static void write(Path entry, String identity, String digest) {
        Path tmp = null;
        try {
            Files.createDirectories(entry.getParent());
            tmp = Files.createTempFile(entry.getParent(), entry.getFileName().toString(), ".tmp");
            Files.writeString(tmp, identity + "\n" + digest + "\n", StandardCharsets.UTF_8);
            try {
                Files.move(tmp, entry, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, entry, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            // read-only cache folder: every call hashes, as before
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // a leftover .tmp is never read
                }
            }
        }
    }
}
