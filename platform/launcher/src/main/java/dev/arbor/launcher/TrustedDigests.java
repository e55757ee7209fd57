package dev.arbor.launcher;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The operator's trust policy file, {@code etc/trust/trusted-bundles.sha256} ({@code <sha256-hex>  <comment>} per
 * line, as {@code sha256sum} writes; {@code #} comments), re-read whenever its content changes so an added line
 * counts at once. The deploy watcher reads the same file and reports its malformed lines.
 */
final class TrustedDigests {
    private static final Pattern LINE = Pattern.compile("^([0-9a-fA-F]{64})(?:\\s+.*)?$");

    private final Path file;
    private byte[] content;
    private Set<String> digests = Set.of();

    TrustedDigests(Path file) {
        this.file = file;
    }

    Path file() {
        return file;
    }

    /** True when the file lists {@code sha256Hex}; a missing or unreadable file trusts nothing. */
    synchronized boolean trusts(String sha256Hex) {
        byte[] now;
        try {
            now = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            now = new byte[0];
        } catch (IOException e) {
            return false;
        }
        if (!Arrays.equals(now, content)) {
            content = now;
            Set<String> read = new HashSet<>();
            for (String line : new String(now, StandardCharsets.UTF_8).split("\\R")) {
                Matcher m = LINE.matcher(line.strip());
                if (m.matches()) {
                    read.add(m.group(1).toLowerCase(Locale.ROOT));
                }
            }
            digests = read;
        }
        return sha256Hex != null && digests.contains(sha256Hex.toLowerCase(Locale.ROOT));
    }
}
