package dev.arbor.platform.deploy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The operator's trust policy file ({@code etc/trust/trusted-bundles.sha256}) as the lines it holds: one
 * {@code <sha256-hex>  <comment>} per trusted bundle (the form {@code sha256sum} writes), {@code #} comment lines and
 * blank lines. Immutable; edits return a new value that keeps every other line exactly as written, so the
 * operator's own comments survive, and {@link #update} writes it atomically (a sibling temporary file renamed over
 * the old one) under a lock, so the watcher never reads half a file and two editors never lose each other's line.
 * The launcher reads the same format with its own small reader (it runs before any bundle).
 *
 * @since 1.1.0
 */
public final class TrustFile {
    /** A digest line: 64 hex digits, then optionally white space and a comment. */
    private static final Pattern DIGEST_LINE = Pattern.compile("^([0-9a-fA-F]{64})(?:\\s+(.*))?$");
    /** The tail of the comment {@link #comment} writes: {@code (symbolic.name version, trusted yyyy-mm-dd)}. */
    private static final Pattern DESCRIBED = Pattern.compile(
            "\\((\\S+) (\\S+), trusted (\\d{4}-\\d{2}-\\d{2})\\)\\s*$");

    private static final java.util.Map<Path, Object> EDITORS = new java.util.concurrent.ConcurrentHashMap<>();

    private final Path file;
    private final boolean exists;
    private final List<String> lines;

    /** One trusted digest: the line it is on (1-based), the digest in lower case and the rest of the line. */
    public record Entry(int line, String digest, String comment) {
    }

    /** What a comment written by {@link #comment} says: the bundle's symbolic name and version, and the date. */
    public record Described(String symbolicName, String version, LocalDate trusted) {
    }

    private TrustFile(Path file, boolean exists, List<String> lines) {
        this.file = file;
        this.exists = exists;
        this.lines = List.copyOf(lines);
    }

    /** Reads {@code file}; a missing file is an empty policy that trusts nothing ({@link #exists()} false). */
    public static TrustFile read(Path file) throws IOException {
        try {
            return parse(file, Files.readString(file, StandardCharsets.UTF_8));
        } catch (NoSuchFileException e) {
            return new TrustFile(file, false, List.of());
        }
    }

    /** The policy {@code text} read from {@code file} (named in problem messages). */
    public static TrustFile parse(Path file, String text) {
        return new TrustFile(file, true, text.isEmpty() ? List.of() : text.lines().toList());
    }

    public Path file() {
        return file;
    }

    public boolean exists() {
        return exists;
    }

    /** Every line as written, comments and blank lines included. */
    public List<String> lines() {
        return lines;
    }

    /** The trusted digests in file order (a digest listed twice appears twice). */
    public List<Entry> entries() {
        List<Entry> entries = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            Matcher m = DIGEST_LINE.matcher(lines.get(i).strip());
            if (m.matches()) {
                entries.add(new Entry(i + 1, m.group(1).toLowerCase(Locale.ROOT),
                        m.group(2) == null ? "" : m.group(2).strip()));
            }
        }
        return entries;
    }

    /** The set of trusted digests, lower case. */
    public Set<String> digests() {
        Set<String> digests = new HashSet<>();
        entries().forEach(e -> digests.add(e.digest()));
        return digests;
    }

    /** True when {@code sha256Hex} (either case) is listed. */
    public boolean trusts(String sha256Hex) {
        return sha256Hex != null && digests().contains(sha256Hex.toLowerCase(Locale.ROOT));
    }

    /**
     * Lines that are neither a digest line, a comment nor blank, each as {@code file:line: 'text' is not ...}: they
     * trust nothing, and saying so keeps a typo from looking like a trusted bundle.
     */
    public List<String> problems() {
        List<String> problems = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (!line.isEmpty() && !line.startsWith("#") && !DIGEST_LINE.matcher(line).matches()) {
                problems.add(file + ":" + (i + 1) + ": '" + (line.length() <= 80 ? line : line.substring(0, 77)
                        + "...") + "' is not '<sha256-hex>  <comment>' (64 hex digits, e.g. from 'sha256sum"
                        + " bundle.jar'); the line is ignored");
            }
        }
        return problems;
    }

    /** This policy with {@code digest} trusted: its line appended, or this same value when it is listed already. */
    public TrustFile with(String digest, String comment) {
        String d = checkDigest(digest);
        if (trusts(d)) {
            return this;
        }
        if (comment.lines().count() > 1) {
            throw new IllegalArgumentException("a trust comment is one line: " + comment);
        }
        List<String> next = new ArrayList<>(lines);
        next.add(comment.isBlank() ? d : d + "  " + comment.strip());
        return new TrustFile(file, true, next);
    }

    /** This policy without every line of {@code digests} (either case); all other lines stay as written. */
    public TrustFile without(Collection<String> digests) {
        Set<String> drop = new HashSet<>();
        digests.forEach(d -> drop.add(checkDigest(d)));
        List<String> next = new ArrayList<>();
        for (String line : lines) {
            Matcher m = DIGEST_LINE.matcher(line.strip());
            if (!m.matches() || !drop.contains(m.group(1).toLowerCase(Locale.ROOT))) {
                next.add(line);
            }
        }
        return new TrustFile(file, exists || !next.isEmpty(), next);
    }

    /** The text this policy is written as: its lines, each ended by a line feed. */
    public String text() {
        StringBuilder out = new StringBuilder();
        lines.forEach(l -> out.append(l).append('\n'));
        return out.toString();
    }

    /**
     * The comment {@code arbor trust add} writes after a digest: {@code my-plugin-1.0.1.jar (com.acme.plugin 1.0.1,
     * trusted 2026-12-07)}: the file it was computed from, the bundle's symbolic name and version, and the day.
     */
    public static String comment(String fileName, String symbolicName, String version, LocalDate date) {
        return fileName.strip() + " (" + symbolicName + " " + version + ", trusted " + date + ")";
    }

    /** What a comment in the form {@link #comment} writes says; empty for any other comment. */
    public static Optional<Described> described(String comment) {
        Matcher m = DESCRIBED.matcher(comment == null ? "" : comment);
        if (!m.find()) {
            return Optional.empty();
        }
        try {
            return Optional.of(new Described(m.group(1), m.group(2), LocalDate.parse(m.group(3))));
        } catch (java.time.DateTimeException e) {
            return Optional.empty();
        }
    }

    /**
     * Reads {@code file}, applies {@code change} and, when the lines differ, writes the result atomically: a
     * temporary file beside it (given the old file's permissions) is flushed to disk and renamed over it. A lock on
     * a hidden sibling ({@code .NAME.lock}) serialises concurrent editors that use this method. Returns the policy as
     * now written (or as read when nothing changed).
     */
    public static TrustFile update(Path file, UnaryOperator<TrustFile> change) throws IOException {
        if (Files.isSymbolicLink(file)) {
            file = file.toRealPath(); // replace the file the link points at, and keep the link
        }
        Path folder = file.toAbsolutePath().normalize().getParent();
        Files.createDirectories(folder);
        Path lockFile = folder.resolve("." + file.getFileName() + ".lock");
        // a file lock excludes other processes; threads of this one (which would get OverlappingFileLockException)
        // queue on a monitor per file first
        synchronized (EDITORS.computeIfAbsent(lockFile, k -> new Object())) {
            try (FileChannel lockChannel = FileChannel.open(lockFile, StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE); FileLock lock = lockChannel.lock()) {
                return replace(file, folder, change);
            }
        }
    }

    private static TrustFile replace(Path file, Path folder, UnaryOperator<TrustFile> change) throws IOException {
        TrustFile before = read(file);
        TrustFile after = change.apply(before);
        if (after.lines.equals(before.lines)) {
            return before;
        }
        Path tmp = Files.createTempFile(folder, "." + file.getFileName() + ".", ".tmp");
        try {
            if (before.exists && FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
                Files.setPosixFilePermissions(tmp, Files.getPosixFilePermissions(file));
            }
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer bytes = ByteBuffer.wrap(after.text().getBytes(StandardCharsets.UTF_8));
                while (bytes.hasRemaining()) {
                    out.write(bytes);
                }
                out.force(true); // on disk before the rename makes it the policy
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot replace " + file + " atomically (" + e.getMessage() + "); edit it"
                        + " by hand", e);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        return new TrustFile(before.file, true, after.lines);
    }

    private static String checkDigest(String digest) {
        if (digest == null || !digest.matches("[0-9a-fA-F]{64}")) {
            throw new IllegalArgumentException("'" + digest + "' is not a SHA-256 digest (64 hex digits)");
        }
        return digest.toLowerCase(Locale.ROOT);
    }
}
