package dev.arbor.tools.baseline;

import aQute.bnd.differ.Baseline;
import aQute.bnd.differ.DiffPluginImpl;
import aQute.bnd.osgi.Instructions;
import aQute.bnd.osgi.Processor;
import aQute.bnd.service.diff.Delta;
import aQute.bnd.version.MavenVersion;
import aQute.bnd.version.Version;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Semantic versioning of the API artifact, enforced by the build with bnd's baseline engine
 * ({@link Baseline}, the engine of {@code bnd-baseline-maven-plugin}): the built bundle is compared with the API of
 * the last release ({@link ApiSnapshot}, committed next to the sources). The build fails when
 * <ul>
 *   <li>a package's members changed and its {@code @Version} (package-info.java) was not raised as far as bnd's
 *       rules demand: a removal or a change consumers see is MAJOR; an addition is MINOR, except a method added to
 *       an interface that plugins implement ({@code @ConsumerType}, bnd's default for interfaces), which is
 *       MAJOR;</li>
 *   <li>the bundle's version, which is the Maven version of the artifact, is below the release's version bumped by
 *       the largest package change (a MINOR package change needs at least x.(y+1).0);</li>
 *   <li>the Maven version is older than the release, or differs from the bundle's Bundle-Version.</li>
 * </ul>
 * {@code release} runs the same check and then records the built API as the new baseline.
 *
 * <p>Usage: {@code ApiBaseline check|release <bundle.jar> <baseline.json> <maven version>}.
 */
public final class ApiBaseline {
    /** How to move the baseline forward; printed wherever a developer may need it. */
    static final String RELEASE_COMMAND = "mvn -pl api -am install -DskipTests -Darbor.api.baseline=release";
    private static final String WHERE_VERSION = "the property arbor.api.version in the root pom.xml and <version>"
            + " in api/pom.xml";

    private ApiBaseline() {
    }

    /** What the comparison found: {@code problems} fail the build; {@code notes} are printed. */
    record Result(List<String> problems, List<String> notes, Version baselineVersion) {
        boolean passed() {
            return problems.isEmpty();
        }

        /** The message a developer sees when the check fails. */
        String failure(Path baselineFile) {
            StringBuilder b = new StringBuilder("The API changed without the version bumps semantic versioning"
                    + " requires (baseline: the API released as " + baselineVersion + ", " + baselineFile + "):");
            problems.forEach(p -> b.append("\n  ").append(p.replace("\n", "\n  ")));
            b.append("\nRaise the versions as shown (bnd's rules: a removal, or an abstract method added to an"
                    + " interface plugins implement, is MAJOR; another addition is MINOR). After a release, record"
                    + " the new API as the baseline with: " + RELEASE_COMMAND);
            return b.toString();
        }
    }

    public static void main(String[] args) throws Exception {
        run(args, System.out);
    }

    /** {@link #main}, reporting to {@code out}. */
    static void run(String[] args, PrintStream out) throws Exception {
        if (args.length != 4 || !(args[0].equals("check") || args[0].equals("release"))) {
            throw new IllegalArgumentException("usage: ApiBaseline check|release <bundle.jar> <baseline.json>"
                    + " <maven version>");
        }
        Path jar = Path.of(args[1]);
        Path baselineFile = Path.of(args[2]);
        String mavenVersion = args[3];
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("no built bundle at " + jar + " to compare with the API baseline");
        }
        ApiSnapshot built = ApiSnapshot.of(jar);
        if (!Files.isRegularFile(baselineFile)) {
            if (args[0].equals("check")) {
                throw new IllegalStateException("no API baseline at " + baselineFile + ": record the released API"
                        + " once with " + RELEASE_COMMAND);
            }
        } else {
            Result r = compare(built, ApiSnapshot.read(baselineFile), mavenVersion);
            if (!r.passed()) {
                throw new VersioningError(r.failure(shown(baselineFile)));
            }
            r.notes().forEach(n -> out.println("[api-baseline] " + n));
            if (args[0].equals("check")) {
                out.println("[api-baseline] " + built.symbolicName() + " " + built.version()
                        + " is versioned correctly against the released " + r.baselineVersion() + " ("
                        + built.exports().size() + " packages)");
                return;
            }
        }
        built.write(baselineFile, "The API of " + built.symbolicName() + " " + built.version() + " as released: bnd's"
                + " API tree (aQute.bnd.service.diff.Tree.Data), one element per line. The build compares every"
                + " build of the API with it (tools/api-baseline). Written by: " + RELEASE_COMMAND
                + "; never edit by hand.");
        out.println("[api-baseline] recorded " + built.symbolicName() + " " + built.version() + " ("
                + built.exports().size() + " packages) as the API baseline in " + baselineFile
                + "; commit it with the release");
    }

    /** The file as the developer who ran the build names it: relative to the working directory when inside it. */
    private static Path shown(Path file) {
        Path here = Path.of("").toAbsolutePath();
        Path absolute = file.toAbsolutePath().normalize();
        return absolute.startsWith(here) ? here.relativize(absolute) : absolute;
    }

    /**
     * Compares a build with the baseline by bnd's rules.
     *
     * @param mavenVersion the artifact's Maven version, which must be the bundle's version
     */
    static Result compare(ApiSnapshot newer, ApiSnapshot older, String mavenVersion) throws Exception {
        List<String> problems = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        Version built = newer.version();
        Version released = older.version();
        Version maven = MavenVersion.parseMavenString(mavenVersion).getOSGiVersion();
        if (!maven.getWithoutQualifier().equals(built.getWithoutQualifier())) {
            problems.add("the bundle's version " + built + " is not the artifact's Maven version " + mavenVersion
                    + ": the Maven version must carry the API's version (do not set Bundle-Version in api/bnd.bnd)");
        }
        if (!newer.symbolicName().equals(older.symbolicName())) {
            problems.add("the baseline is of bundle " + older.symbolicName() + ", this build is "
                    + newer.symbolicName());
        }
        if (built.compareTo(released) < 0) {
            problems.add("version " + built + " is older than the released API " + released + ": set "
                    + WHERE_VERSION + " to at least " + released);
        }
        try (Processor reporter = new Processor()) {
            Baseline baseline = new Baseline(reporter, new DiffPluginImpl());
            List<Baseline.Info> infos = new ArrayList<>(baseline.baseline(newer.toTree(), newer.exportParameters(),
                    older.toTree(), older.exportParameters(), new Instructions()));
            infos.sort(Comparator.comparing(i -> i.packageName));
            for (Baseline.Info info : infos) {
                Delta delta = info.packageDiff.getDelta();
                if (info.mismatch) {
                    StringBuilder p = new StringBuilder("package " + info.packageName + ": a " + delta
                            + " change needs version " + info.suggestedVersion + " but it is " + info.newerVersion
                            + ": set @Version(\"" + info.suggestedVersion + "\") in its package-info.java");
                    if (info.suggestedIfProviders != null) {
                        p.append(" (or, if only Arbor implements ").append(String.join(", ", info.providers))
                                .append(", mark ").append(info.providers.size() == 1 ? "it" : "them")
                                .append(" @ProviderType: then ").append(info.suggestedIfProviders)
                                .append(" suffices)");
                    }
                    appendCauses(p, info.reason);
                    problems.add(p.toString());
                } else if (delta == Delta.REMOVED) {
                    notes.add("package " + info.packageName + " was removed: a MAJOR change of the bundle");
                } else if (delta == Delta.ADDED) {
                    notes.add("package " + info.packageName + " " + info.newerVersion + " is new: a MINOR change of"
                            + " the bundle");
                } else if (delta != Delta.UNCHANGED) {
                    notes.add("package " + info.packageName + ": " + delta + " change, " + info.olderVersion + " -> "
                            + info.newerVersion + " (needs " + info.suggestedVersion + ")");
                }
                if (info.warning != null && !info.warning.isEmpty()) {
                    notes.add("package " + info.packageName + " " + info.olderVersion + " -> " + info.newerVersion
                            + ": " + info.warning);
                }
            }
            Baseline.BundleInfo bundle = baseline.getBundleInfo();
            if (bundle.mismatch) {
                StringBuilder p = new StringBuilder("bundle " + bundle.bsn + ": version " + built
                        + " is below " + bundle.suggestedVersion + ", which the largest package change since "
                        + released + " demands: set " + WHERE_VERSION + " to " + bundle.suggestedVersion);
                if (infos.stream().noneMatch(i -> i.mismatch)) { // else the packages' problems name the causes
                    appendCauses(p, bundle.reason);
                }
                problems.add(p.toString());
            }
            reporter.getErrors().forEach(e -> problems.add("bnd: " + e));
        }
        return new Result(problems, notes, released);
    }

    /**
     * The check's verdict. Without a stack trace: the build prints the message, and where in the checker it was
     * thrown helps nobody.
     */
    static final class VersioningError extends RuntimeException {
        private static final long serialVersionUID = 1L;

        VersioningError(String message) {
            super(message, null, false, false);
        }
    }

    /** bnd's root causes ("+ /path" added, "- /path" removed), indented under the problem. */
    private static void appendCauses(StringBuilder p, String causes) {
        if (causes == null || causes.isBlank()) {
            return;
        }
        causes.lines().filter(l -> !l.isBlank()).limit(20).forEach(l -> p.append("\n    ").append(l));
    }
}
