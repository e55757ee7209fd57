package dev.arbor.platform.runtime.cli;

import dev.arbor.api.ArborException;
import dev.arbor.platform.deploy.BundleFile;
import dev.arbor.platform.deploy.TrustFile;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.osgi.framework.Version;

/**
 * What {@code arbor trust add|list|revoke} do to the trust policy file, through {@link TrustFile} (one reader and
 * one atomic writer for every tool) and {@link BundleFile} (digest, name and version of a jar).
 */
final class TrustEdits {
    private final Path trustFile;
    private final Path deploy;
    private final Clock clock;
    private final PrintStream out;

    TrustEdits(Path trustFile, Path deploy, Clock clock, PrintStream out) {
        this.trustFile = trustFile;
        this.deploy = deploy;
        this.clock = clock;
        this.out = out;
    }

    /** A bundle a digest stands for, and where that was learnt ("deploy/x.jar" or "its comment"). */
    private record Known(String symbolicName, Version version, String from) {
    }

    /** Trusts {@code files}; with {@code supersede}, retires older versions of the same bundles (see the command). */
    void add(List<Path> files, boolean supersede) throws IOException {
        Map<String, BundleFile> adding = new LinkedHashMap<>();
        for (Path file : files) {
            BundleFile jar = readBundle(file);
            adding.putIfAbsent(jar.sha256(), jar);
        }
        Map<String, List<BundleFile>> inDeploy = deployJars();
        LocalDate today = LocalDate.now(clock);
        List<String> said = new ArrayList<>();
        TrustFile written = TrustFile.update(trustFile, before -> {
            TrustFile after = before;
            for (BundleFile jar : adding.values()) {
                Optional<TrustFile.Entry> listed = before.entries().stream()
                        .filter(e -> e.digest().equals(jar.sha256())).findFirst();
                if (listed.isPresent()) {
                    said.add("already trusted: " + jar.sha256() + "  " + listed.get().comment() + " (line "
                            + listed.get().line() + ")");
                    continue;
                }
                String comment = TrustFile.comment(jar.path().getFileName().toString(), jar.symbolicName(),
                        jar.version().toString(), today);
                after = after.with(jar.sha256(), comment);
                said.add("trusted " + jar.sha256() + "  " + comment);
            }
            if (supersede) {
                Set<String> retire = new LinkedHashSet<>();
                for (TrustFile.Entry entry : before.entries()) {
                    if (adding.containsKey(entry.digest()) || retire.contains(entry.digest())) {
                        continue;
                    }
                    Known known = identify(entry, inDeploy);
                    if (known == null) {
                        continue;
                    }
                    for (BundleFile jar : adding.values()) {
                        if (!jar.symbolicName().equals(known.symbolicName())
                                || known.version().compareTo(jar.version()) > 0) {
                            continue;
                        }
                        List<BundleFile> holders = inDeploy.getOrDefault(entry.digest(), List.of());
                        if (!holders.isEmpty() && !inDeploy.containsKey(jar.sha256())) {
                            said.add("kept " + entry.digest() + "  " + entry.comment() + ": " + where(holders)
                                    + " has it and " + jar.path().getFileName() + " is not in " + deploy
                                    + " yet; retiring it now would stop " + known.symbolicName() + " until its"
                                    + " successor arrives. Copy " + jar.path().getFileName() + " into " + deploy
                                    + ", then run 'arbor trust add --supersede' on it again");
                        } else {
                            retire.add(entry.digest());
                            said.add("retired " + entry.digest() + "  " + entry.comment() + " (" + known.symbolicName()
                                    + " " + known.version() + ", from " + known.from() + ", is superseded by "
                                    + jar.version() + ")");
                        }
                        break;
                    }
                }
                after = after.without(retire);
            }
            return after;
        });
        said.forEach(out::println);
        out.println(written.file() + ": " + written.digests().size() + " trusted digest(s); a running Arbor applies"
                + " the change at its next scan of " + deploy);
    }

    /** Prints each digest, its comment and the deploy/ files that have it; then the untrusted jars of deploy/. */
    void list() throws IOException {
        TrustFile policy = TrustFile.read(trustFile);
        Map<String, List<BundleFile>> inDeploy = deployJars();
        if (!policy.exists()) {
            out.println(trustFile + " does not exist: no jar in " + deploy + " may run ('arbor trust add FILE'"
                    + " creates it)");
        } else {
            out.println(trustFile + ": " + policy.digests().size() + " trusted digest(s)");
        }
        for (TrustFile.Entry entry : policy.entries()) {
            out.println(entry.digest() + "  " + entry.comment());
            List<BundleFile> holders = inDeploy.getOrDefault(entry.digest(), List.of());
            out.println("    " + (holders.isEmpty() ? "no file in " + deploy.getFileName() + "/ has it"
                    : "in " + where(holders)));
        }
        policy.problems().forEach(p -> out.println("problem: " + p));
        List<String> untrusted = new ArrayList<>();
        inDeploy.forEach((digest, jars) -> {
            if (!policy.trusts(digest)) {
                jars.forEach(j -> untrusted.add("    " + j.path().getFileName() + " (" + j.describe() + ")  "
                        + digest));
            }
        });
        if (!untrusted.isEmpty()) {
            out.println("not trusted, in " + deploy.getFileName() + "/ (refused; 'arbor trust add "
                    + deploy.getFileName() + "/FILE' trusts one):");
            untrusted.stream().sorted().forEach(out::println);
        }
    }

    /** Removes every digest {@code targets} name; refuses (changing nothing) when one is not listed. */
    void revoke(List<String> targets) throws IOException {
        Map<String, String> digests = new LinkedHashMap<>();
        for (String target : targets) {
            digests.putIfAbsent(digestOf(target), target);
        }
        Map<String, List<BundleFile>> inDeploy = deployJars();
        List<String> said = new ArrayList<>();
        TrustFile written = TrustFile.update(trustFile, before -> {
            for (Map.Entry<String, String> d : digests.entrySet()) {
                if (!before.trusts(d.getKey())) {
                    throw new ArborException(ArborException.Kind.NOT_FOUND, d.getValue()
                            + (d.getValue().equalsIgnoreCase(d.getKey()) ? "" : " (SHA-256 " + d.getKey() + ")")
                            + " is not listed in " + trustFile + "; nothing was changed ('arbor trust list' shows what"
                            + " is trusted)");
                }
                for (TrustFile.Entry e : before.entries()) {
                    if (e.digest().equals(d.getKey())) {
                        List<BundleFile> holders = inDeploy.getOrDefault(e.digest(), List.of());
                        said.add("revoked " + e.digest() + "  " + e.comment());
                        said.add("    " + (holders.isEmpty() ? "no file in " + deploy.getFileName() + "/ has it"
                                : where(holders) + " has it: a running Arbor uninstalls its bundle at the next scan"
                                + " and refuses the file"));
                        break;
                    }
                }
            }
            return before.without(digests.keySet());
        });
        said.forEach(out::println);
        out.println(written.file() + ": " + written.digests().size() + " trusted digest(s)");
    }

    /** A digest given as 64 hex digits, or the digest of a jar (as given, else by that name in deploy/). */
    private String digestOf(String target) throws IOException {
        if (target.matches("[0-9a-fA-F]{64}")) {
            return target.toLowerCase(Locale.ROOT);
        }
        Path file = locate(Path.of(target));
        if (file == null) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "'" + target + "' is neither a SHA-256 digest (64"
                    + " hex digits) nor a file (looked for " + Path.of(target).toAbsolutePath() + ", then in the"
                    + " installation and in " + deploy + ")");
        }
        return BundleFile.sha256(file);
    }

    /**
     * {@code given} as given, else (when relative) in the installation ({@code deploy/x.jar} from anywhere), else by
     * its name in deploy/; null when none is a file.
     */
    private Path locate(Path given) {
        if (Files.isRegularFile(given)) {
            return given;
        }
        if (given.isAbsolute()) {
            return null;
        }
        Path home = deploy.toAbsolutePath().getParent();
        for (Path candidate : new Path[] {home == null ? null : home.resolve(given), deploy.resolve(given)}) {
            if (candidate != null && Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    private BundleFile readBundle(Path given) throws IOException {
        Path file = locate(given);
        if (file == null) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "no file " + given.toAbsolutePath()
                    + (given.isAbsolute() ? "" : " (nor in the installation or " + deploy + ")"));
        }
        BundleFile jar;
        try {
            jar = BundleFile.read(file);
        } catch (IllegalArgumentException e) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, e.getMessage(), e);
        } catch (java.util.zip.ZipException e) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, file + " is not a jar (" + e.getMessage()
                    + "); only OSGi bundles can run from deploy/", e);
        }
        if (!jar.isBundle()) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, file + " is not an OSGi bundle: its manifest"
                    + " names no Bundle-SymbolicName (build it with bnd-maven-plugin); only bundles can run from"
                    + " deploy/");
        }
        return jar;
    }

    /** The bundle {@code entry} stands for: a deploy/ jar with its digest, else what its comment says. */
    private Known identify(TrustFile.Entry entry, Map<String, List<BundleFile>> inDeploy) {
        for (BundleFile jar : inDeploy.getOrDefault(entry.digest(), List.of())) {
            if (jar.isBundle()) {
                return new Known(jar.symbolicName(), jar.version(), deploy.getFileName() + "/"
                        + jar.path().getFileName());
            }
        }
        return TrustFile.described(entry.comment()).flatMap(d -> {
            try {
                return Optional.of(new Known(d.symbolicName(), Version.parseVersion(d.version()), "its comment"));
            } catch (IllegalArgumentException notAVersion) {
                return Optional.empty();
            }
        }).orElse(null);
    }

    /** The jars of deploy/ by digest (unreadable ones skipped: the watcher refuses them and says why). */
    private Map<String, List<BundleFile>> deployJars() throws IOException {
        Map<String, List<BundleFile>> jars = new HashMap<>();
        if (!Files.isDirectory(deploy)) {
            return jars;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(deploy, "*.jar")) {
            for (Path file : files) {
                if (file.getFileName().toString().startsWith(".") || !Files.isRegularFile(file)) {
                    continue; // the watcher ignores hidden files (writers stage jars under such names)
                }
                BundleFile jar;
                try {
                    jar = BundleFile.read(file);
                } catch (IOException | IllegalArgumentException unreadable) {
                    try {
                        jar = new BundleFile(file, BundleFile.sha256(file), null, null);
                    } catch (IOException gone) {
                        continue;
                    }
                }
                jars.computeIfAbsent(jar.sha256(), d -> new ArrayList<>()).add(jar);
            }
        }
        jars.values().forEach(l -> l.sort(java.util.Comparator.comparing(BundleFile::path)));
        return jars;
    }

    private String where(List<BundleFile> holders) {
        List<String> names = new ArrayList<>();
        for (BundleFile jar : holders) {
            names.add(deploy.getFileName() + "/" + jar.path().getFileName() + " (" + jar.describe() + ")");
        }
        return String.join(", ", names);
    }
}
