package dev.arbor.launcher;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * One framework storage kept between runs (Felix's bundle metadata and the jars it extracted from the installation's
 * bundles), so a command does not copy and unpack some 300 MB of bundles again on every start.
 *
 * <p>Slots live in {@code <root>/slot-N}; a process holds its slot by an exclusive lock on {@code slot-N.lock} for as
 * long as it runs (the operating system releases it when the process ends, even by a crash), so two commands, or a
 * command beside {@code arbor serve}, never share a storage: the second takes the next free slot.
 *
 * <p>A slot is reused only when the run before it ended cleanly (the {@value #CLEAN} marker is written after the
 * framework stopped and removed as soon as a run begins) and was made by the same launcher and framework (the
 * {@value #FORMAT} line). Anything else, and any doubt, empties the slot: a start from scratch, as without reuse.
 * Which bundles of it may be kept is {@link ArborFramework}'s decision, from the fingerprints recorded here.
 */
final class StorageSlot implements AutoCloseable {
    static final String CLEAN = "clean-stop";
    static final String FORMAT = "format";
    private static final String FINGERPRINTS = "installed.properties";
    /** More slots than this means something leaks locks; fall back to a temporary storage instead. */
    static final int MAX_SLOTS = 16;

    private final Path folder;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final boolean reusable;

    private StorageSlot(Path folder, FileChannel lockChannel, FileLock lock, boolean reusable) {
        this.folder = folder;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.reusable = reusable;
    }

    /**
     * The first slot under {@code root} no other process holds, locked for this process; {@code format} names what
     * made its content (a slot of another format is emptied). Null when none can be had (no rights, all busy).
     */
    static StorageSlot acquire(Path root, String format) {
        try {
            PrivateStorage.createOwnerOnly(root);
        } catch (IOException e) {
            return null;
        }
        for (int n = 0; n < MAX_SLOTS; n++) {
            Path lockFile = root.resolve("slot-" + n + ".lock");
            FileChannel channel = null;
            try {
                channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                FileLock lock = channel.tryLock();
                if (lock == null) {
                    channel.close();
                    continue;
                }
                Path folder = root.resolve("slot-" + n);
                boolean reusable = Files.isRegularFile(folder.resolve(CLEAN))
                        && format.equals(readString(folder.resolve(FORMAT)));
                // from here on a crash leaves no marker: the next holder starts from scratch
                Files.deleteIfExists(folder.resolve(CLEAN));
                if (!reusable) {
                    PrivateStorage.cleaned(folder);
                    writeAtomically(folder.resolve(FORMAT), format);
                }
                return new StorageSlot(folder, channel, lock, reusable);
            } catch (OverlappingFileLockException held) {
                // held by this same JVM (an in-framework test running two runtimes): try the next slot
                closeQuietly(channel);
            } catch (IOException e) {
                closeQuietly(channel);
                return null;
            }
        }
        return null;
    }

    /** The framework storage folder. */
    Path folder() {
        return folder;
    }

    /** True when the last run left this slot cleanly, so its installed bundles may be checked and kept. */
    boolean reusable() {
        return reusable;
    }

    /** What a bundles/ jar looked like when it was installed into this slot, by bundle location. */
    Map<String, String> fingerprints() {
        Map<String, String> out = new TreeMap<>();
        if (!reusable) {
            return out;
        }
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(folder.resolve(FINGERPRINTS))) {
            p.load(in);
        } catch (IOException e) {
            return out; // nothing known: nothing is kept
        }
        p.forEach((k, v) -> out.put((String) k, (String) v));
        return out;
    }

    /** Records the fingerprints of the bundles now installed from the installation. */
    void recordFingerprints(Map<String, String> byLocation) throws IOException {
        Properties p = new Properties();
        p.putAll(byLocation);
        Path tmp = folder.resolve(FINGERPRINTS + ".tmp");
        try (OutputStream out = Files.newOutputStream(tmp)) {
            p.store(out, "bundles/ jars as installed into this storage: size, modification and change times, file key");
        }
        move(tmp, folder.resolve(FINGERPRINTS));
    }

    /**
     * The identity of {@code jar}'s bytes as the file system tells it without reading them: size, modification time,
     * status-change time (which no user can set back) and file key (device and inode). A jar replaced or rewritten
     * in place changes at least the change time.
     */
    static String fingerprint(Path jar) throws IOException {
        BasicFileAttributes a = Files.readAttributes(jar, BasicFileAttributes.class);
        Object ctime;
        try {
            ctime = Files.getAttribute(jar, "unix:ctime");
        } catch (UnsupportedOperationException | IllegalArgumentException e) {
            // no change time on this file system: never match, so nothing is ever kept
            return null;
        }
        return a.size() + "/" + a.lastModifiedTime().toInstant() + "/" + ctime + "/" + a.fileKey();
    }

    /** Marks the slot as left cleanly (after the framework stopped) and releases it. */
    void closeCleanly() throws IOException {
        writeAtomically(folder.resolve(CLEAN), "");
        close();
    }

    /** Releases the slot without vouching for its content: the next holder empties it. */
    @Override
    public void close() throws IOException {
        try {
            if (lock.isValid()) {
                lock.release();
            }
        } finally {
            lockChannel.close();
        }
    }

    private static String readString(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return null;
        }
    }

    private static void writeAtomically(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        move(tmp, file);
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // nothing held
            }
        }
    }
}
