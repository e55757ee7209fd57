package dev.arbor.platform.deploy.internal;

import dev.arbor.platform.deploy.TrustFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The operator's list of trusted bundle digests as the watcher uses it: the digests of a {@link TrustFile} (one
 * {@code <sha256-hex>  <comment>} per line, {@code #} comments, blank lines ignored). Immutable; a line that is not a
 * digest is reported as a problem rather than silently trusted or ignored.
 */
final class TrustPolicy {
    private final boolean exists;
    private final Set<String> digests;
    private final List<String> problems;

    private TrustPolicy(boolean exists, Set<String> digests, List<String> problems) {
        this.exists = exists;
        this.digests = Set.copyOf(digests);
        this.problems = List.copyOf(problems);
    }

    private TrustPolicy(TrustFile file) {
        this(file.exists(), file.digests(), file.problems());
    }

    /** Reads {@code file}; a missing file is a policy that trusts nothing. */
    static TrustPolicy read(Path file) throws IOException {
        return new TrustPolicy(TrustFile.read(file));
    }

    /** The policy when there is no policy file: nothing is trusted. */
    static TrustPolicy missing() {
        return new TrustPolicy(false, Set.of(), List.of());
    }

    /** Parses the lines of a policy file named {@code source} in problem messages. */
    static TrustPolicy parse(List<String> lines, String source) {
        return new TrustPolicy(TrustFile.parse(Path.of(source), String.join("\n", lines)));
    }

    boolean trusts(String sha256Hex) {
        return sha256Hex != null && digests.contains(sha256Hex.toLowerCase(java.util.Locale.ROOT));
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
