package dev.arbor.launcher;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The framework storage (bundle copies, Config Admin's configuration files, bundle data) is readable by its owner
 * only: folders 0700, files without group or other bits. What is created inside it later gets the process umask,
 * which {@code bin/arbor} sets to 077; the 0700 folder keeps others out even where a caller's umask is wider.
 */
final class PrivateStorage {
    private static final Set<PosixFilePermission> OWNER_ONLY_FOLDER = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> OTHERS = EnumSet.of(PosixFilePermission.GROUP_READ,
            PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ,
            PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);

    private PrivateStorage() {
    }

    private static boolean posix() {
        return FileSystems.getDefault().supportedFileAttributeViews().contains("posix");
    }

    /**
     * {@code storage} empty and owner-only: created 0700 when missing (never a moment with wider rights), its old
     * content deleted (each start begins clean, as Felix's own clean-on-first-init would).
     */
    static Path cleaned(Path storage) throws IOException {
        if (Files.isDirectory(storage)) {
            try (Stream<Path> walk = Files.walk(storage)) {
                for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                    if (!p.equals(storage)) {
                        Files.delete(p);
                    }
                }
            }
        } else {
            createOwnerOnly(storage);
        }
        restrict(storage);
        return storage;
    }

    /** {@code folder} created 0700 when missing (never a moment with wider rights); an existing one is left as it is. */
    static Path createOwnerOnly(Path folder) throws IOException {
        if (Files.isDirectory(folder)) {
            return folder;
        }
        Files.createDirectories(folder.toAbsolutePath().getParent());
        try {
            if (posix()) {
                Files.createDirectory(folder, PosixFilePermissions.asFileAttribute(OWNER_ONLY_FOLDER));
            } else {
                Files.createDirectory(folder);
            }
        } catch (java.nio.file.FileAlreadyExistsException raced) {
            // another process made it first
        }
        return folder;
    }

    /** Takes group and other rights from {@code storage} and everything in it (the folder itself: exactly 0700). */
    static void restrict(Path storage) throws IOException {
        if (!posix()) {
            return;
        }
        Files.setPosixFilePermissions(storage, OWNER_ONLY_FOLDER);
        try (Stream<Path> walk = Files.walk(storage)) {
            for (Path p : walk.toList()) {
                if (Files.isSymbolicLink(p)) {
                    continue;
                }
                Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(p);
                if (permissions.removeAll(OTHERS)) {
                    Files.setPosixFilePermissions(p, permissions);
                }
            }
        }
    }
}
