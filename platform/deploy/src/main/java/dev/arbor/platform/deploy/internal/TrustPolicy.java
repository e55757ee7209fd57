package dev.arbor.platform.deploy.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The operator's list of trusted bundle digests: one {@code <sha256-hex>  <comment>} per line (the output of
 * {@code sha256sum} works as it is), {@code #} starts a comment, blank lines are ignored. Immutable; a line that is
 * not a digest is reported as a problem rather than silently trusted or ignored.
 */
final class TrustPolicy {
    private static final Pattern LINE = Pattern.compile("^([0-9a-fA-F]{64})(?:\\s+.*)?$");

    private final boolean exists;
    private final Set<String> digests;
    private final List<String> problems;

    private TrustPolicy(boolean exists, Set<String> digests, List<String> problems) {
        this.exists = exists;
        this.digests = Set.copyOf(digests);
        this.problems = List.copyOf(problems);
    }

    /** Reads {@code file}; a missing file is a policy that trusts nothing. */
    static TrustPolicy read(Path file) throws IOException {
        try {
            return parse(Files.readAllLines(file, StandardCharsets.UTF_8), file.toString());
        } catch (NoSuchFileException e) {
            return missing();
        }
    }

    /** The policy when there is no policy file: nothing is trusted. */
    static TrustPolicy missing() {
        return new TrustPolicy(false, Set.of(), List.of());
    }

    /** Parses the lines of a policy file named {@code source} in problem messages. */
    static TrustPolicy parse(List<String> lines, String source) {
        Set<String> digests = new HashSet<>();
        List<String> problems = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            Matcher m = LINE.matcher(line);
            if (m.matches()) {
                digests.add(m.group(1).toLowerCase(Locale.ROOT));
            } else {
                problems.add(source + ":" + (i + 1) + ": '" + abbreviate(line) + "' is not '<sha256-hex>  <comment>'"
                        + " (64 hex digits, e.g. from 'sha256sum bundle.jar'); the line is ignored");
            }
        }
        return new TrustPolicy(true, digests, problems);
    }

    private static String abbreviate(String line) {
        return line.length() <= 80 ? line : line.substring(0, 77) + "...";
    }

    boolean trusts(String sha256Hex) {
        return sha256Hex != null && digests.contains(sha256Hex.toLowerCase(Locale.ROOT));
    }

    boolean exists() {
        return exists;
    }

    int size() {
        return digests.size();
    }

    /** Lines that could not be read, each naming the file, line number and what was expected. */
    List<String> problems() {
        return problems;
    }
}
