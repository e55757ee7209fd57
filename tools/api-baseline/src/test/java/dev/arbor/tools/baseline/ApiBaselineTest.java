package dev.arbor.tools.baseline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import aQute.bnd.osgi.Builder;
import aQute.bnd.osgi.Jar;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The check on small APIs built the way the API is built (javac, then bnd with the package versions of
 * package-info.java): it fails an unversioned removal or addition, passes the correctly versioned change, and makes
 * the bundle's (the artifact's Maven) version follow the largest package change.
 */
class ApiBaselineTest {
    private static final String UTIL = "package test.api;\n"
            + "public final class Util {\n"
            + "  private Util() {}\n"
            + "  public static int a() { return 1; }\n"
            + "  public static int b() { return 2; }\n%s"
            + "}\n";
    /** Implemented by plugins: bnd's default for an interface, written out here. */
    private static final String LISTENER = "package test.api;\n"
            + "@org.osgi.annotation.versioning.ConsumerType\n"
            + "public interface Listener {\n  void on(String event);\n%s}\n";
    /** Implemented only by the API's owner: an added method is a minor change. */
    private static final String SERVICE = "package test.api;\n"
            + "@org.osgi.annotation.versioning.ProviderType\n"
            + "public interface Service {\n  int size();\n%s}\n";

    @TempDir
    Path dir;
    private int builds;

    /** The released API: package test.api 1.0.0 in bundle 1.0.0. */
    private ApiSnapshot released() throws Exception {
        return ApiSnapshot.of(bundle("1.0.0", "1.0.0", Map.of()));
    }

    @Test
    void anUnchangedApiPassesAlsoReadBackFromTheCommittedFile() throws Exception {
        Path file = dir.resolve("baseline.json");
        released().write(file, "test");
        ApiSnapshot readBack = ApiSnapshot.read(file);
        assertThat(readBack.symbolicName()).isEqualTo("test.api");
        assertThat(readBack.version()).hasToString("1.0.0");
        assertThat(readBack.exports()).containsEntry("test.api", "1.0.0");
        assertThat(Files.readString(file)).contains("{\"type\": \"METHOD\", \"name\": \"b()\"");

        ApiBaseline.Result r = ApiBaseline.compare(ApiSnapshot.of(bundle("1.0.0", "1.0.0", Map.of())), readBack,
                "1.0.0");
        assertThat(r.problems()).isEmpty();
        assertThat(r.notes()).isEmpty();
    }

    @Test
    void aRemovedMethodWithoutAMajorBumpFails() throws Exception {
        ApiBaseline.Result r = compare(bundle("1.0.0", "1.0.0", Map.of("Util.java", withoutB())), "1.0.0");
        assertThat(r.passed()).isFalse();
        assertThat(r.problems()).anySatisfy(p -> assertThat(p)
                .startsWith("package test.api: a MAJOR change needs version 2.0.0 but it is 1.0.0: set"
                        + " @Version(\"2.0.0\") in its package-info.java")
                .contains("- /test.api.Util/b()"));
        assertThat(r.problems()).anySatisfy(p -> assertThat(p)
                .startsWith("bundle test.api: version 1.0.0 is below 2.0.0"));
        assertThat(r.failure(Path.of("api/baseline/arbor-api.json")))
                .startsWith("The API changed without the version bumps semantic versioning requires (baseline: the"
                        + " API released as 1.0.0, api/baseline/arbor-api.json):")
                .contains(ApiBaseline.RELEASE_COMMAND);
    }

    @Test
    void theArtifactVersionMustFollowThePackages() throws Exception {
        // the package is versioned correctly, the bundle (the Maven version) is not raised as far
        for (String bundleVersion : List.of("1.0.0", "1.1.0", "1.9.3")) {
            ApiBaseline.Result r = compare(bundle("2.0.0", bundleVersion, Map.of("Util.java", withoutB())),
                    bundleVersion);
            assertThat(r.problems()).as(bundleVersion).singleElement().asString()
                    .startsWith("bundle test.api: version " + bundleVersion + " is below 2.0.0, which the largest"
                            + " package change since 1.0.0 demands: set the property arbor.api.version in the root"
                            + " pom.xml and <version> in api/pom.xml to 2.0.0");
        }
        // a minor package change asks for at least the next minor
        ApiBaseline.Result minor = compare(bundle("1.1.0", "1.0.1", Map.of("Util.java", withC())), "1.0.1");
        assertThat(minor.problems()).singleElement().asString().startsWith("bundle test.api: version 1.0.1 is below"
                + " 1.1.0");
    }

    @Test
    void aRemovedMethodVersionedAsMajorPasses() throws Exception {
        ApiBaseline.Result r = compare(bundle("2.0.0", "2.0.0", Map.of("Util.java", withoutB())), "2.0.0");
        assertThat(r.problems()).isEmpty();
        assertThat(r.notes()).containsExactly("package test.api: MAJOR change, 1.0.0 -> 2.0.0 (needs 2.0.0)");
    }

    @Test
    void anAddedMethodWithoutAMinorBumpFails() throws Exception {
        ApiBaseline.Result r = compare(bundle("1.0.0", "1.0.0", Map.of("Util.java", withC())), "1.0.0");
        assertThat(r.problems()).anySatisfy(p -> assertThat(p)
                .startsWith("package test.api: a MINOR change needs version 1.1.0 but it is 1.0.0")
                .contains("+ /test.api.Util/c()"));
        assertThat(r.problems()).anySatisfy(p -> assertThat(p).startsWith("bundle test.api: version 1.0.0 is below"
                + " 1.1.0"));
    }

    @Test
    void anAddedMethodVersionedAsMinorPasses() throws Exception {
        ApiBaseline.Result r = compare(bundle("1.1.0", "1.1.0", Map.of("Util.java", withC())), "1.1.0");
        assertThat(r.problems()).isEmpty();
        assertThat(r.notes()).containsExactly("package test.api: MINOR change, 1.0.0 -> 1.1.0 (needs 1.1.0)");
        // a provider-type interface (only the API's owner implements it) takes a new method as a minor change too
        ApiBaseline.Result provider = compare(bundle("1.1.0", "1.1.0",
                Map.of("Service.java", SERVICE.formatted("  int capacity();\n"))), "1.1.0");
        assertThat(provider.problems()).isEmpty();
    }

    @Test
    void aMethodAddedToAnInterfacePluginsImplementIsMajor() throws Exception {
        ApiBaseline.Result r = compare(bundle("1.1.0", "1.1.0",
                Map.of("Listener.java", LISTENER.formatted("  void off(String event);\n"))), "1.1.0");
        assertThat(r.problems()).anySatisfy(p -> assertThat(p)
                .startsWith("package test.api: a MAJOR change needs version 2.0.0 but it is 1.1.0")
                .contains("mark it @ProviderType: then 1.1.0 suffices")
                .contains("+ /test.api.Listener/off(java.lang.String)"));
    }

    @Test
    void theMavenVersionMustBeTheBundleVersionAndNotOlderThanTheRelease() throws Exception {
        ApiBaseline.Result differs = compare(bundle("1.0.0", "1.0.0", Map.of()), "1.0.1");
        assertThat(differs.problems()).singleElement().asString().startsWith("the bundle's version 1.0.0 is not the"
                + " artifact's Maven version 1.0.1");
        ApiBaseline.Result older = compare(bundle("1.0.0", "0.9.0", Map.of()), "0.9.0");
        assertThat(older.problems()).anySatisfy(p -> assertThat(p).startsWith("version 0.9.0 is older than the"
                + " released API 1.0.0"));
    }

    @Test
    void releaseRecordsTheApiOnlyWhenItIsVersionedCorrectly() throws Exception {
        Path file = dir.resolve("baseline/arbor-api.json");
        Path v1 = bundle("1.0.0", "1.0.0", Map.of());
        assertThatThrownBy(() -> run(new String[] {"check", v1.toString(), file.toString(), "1.0.0"}))
                .hasMessageContaining("no API baseline at " + file).hasMessageContaining(ApiBaseline.RELEASE_COMMAND);
        run(new String[] {"release", v1.toString(), file.toString(), "1.0.0"});
        run(new String[] {"check", v1.toString(), file.toString(), "1.0.0"});
        String recorded = Files.readString(file);

        Path unversioned = bundle("1.0.0", "1.0.0", Map.of("Util.java", withoutB()));
        assertThatThrownBy(() -> run(new String[] {"release", unversioned.toString(), file.toString(),
                "1.0.0"})).hasMessageContaining("a MAJOR change needs version 2.0.0");
        assertThat(Files.readString(file)).isEqualTo(recorded);

        Path v2 = bundle("2.0.0", "2.0.0", Map.of("Util.java", withoutB()));
        run(new String[] {"release", v2.toString(), file.toString(), "2.0.0"});
        assertThat(ApiSnapshot.read(file).version()).hasToString("2.0.0");
        assertThat(printed).contains("[api-baseline] package test.api: MAJOR change, 1.0.0 -> 2.0.0 (needs 2.0.0)",
                "[api-baseline] recorded test.api 2.0.0 (1 packages) as the API baseline in " + file
                        + "; commit it with the release");
        assertThat(Files.readString(file)).doesNotContain("\"b()\"");
        // from now on the removal is the baseline, and bringing b() back is an addition
        assertThatThrownBy(() -> run(new String[] {"check", v1.toString(), file.toString(), "1.0.0"}))
                .hasMessageContaining("version 1.0.0 is older than the released API 2.0.0");
    }

    private final List<String> printed = new ArrayList<>();

    private void run(String[] args) throws Exception {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        ApiBaseline.run(args, new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8));
        printed.addAll(out.toString(java.nio.charset.StandardCharsets.UTF_8).lines().toList());
    }

    private ApiBaseline.Result compare(Path newer, String mavenVersion) throws Exception {
        return ApiBaseline.compare(ApiSnapshot.of(newer), released(), mavenVersion);
    }

    private static String withoutB() {
        return UTIL.formatted("").replace("  public static int b() { return 2; }\n", "");
    }

    private static String withC() {
        return UTIL.formatted("  public static int c() { return 3; }\n");
    }

    /**
     * Compiles package {@code test.api} (the default sources, with {@code changed} replacing some) and bundles it
     * with bnd as the API is bundled: exported at the package-info's version, in a bundle of {@code bundleVersion}.
     */
    private Path bundle(String packageVersion, String bundleVersion, Map<String, String> changed) throws Exception {
        Map<String, String> sources = new LinkedHashMap<>();
        sources.put("package-info.java", "@org.osgi.annotation.versioning.Version(\"" + packageVersion + "\")\n"
                + "package test.api;\n");
        sources.put("Util.java", UTIL.formatted(""));
        sources.put("Listener.java", LISTENER.formatted(""));
        sources.put("Service.java", SERVICE.formatted(""));
        sources.putAll(changed);
        Path build = dir.resolve("build" + builds++);
        Path src = Files.createDirectories(build.resolve("src/test/api"));
        Path classes = Files.createDirectories(build.resolve("classes"));
        List<String> args = new ArrayList<>(List.of("--release", "17", "-d", classes.toString(), "-cp",
                osgiAnnotations().toString()));
        for (Map.Entry<String, String> s : sources.entrySet()) {
            Path file = src.resolve(s.getKey());
            Files.writeString(file, s.getValue());
            args.add(file.toString());
        }
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertThat(javac.run(null, null, null, args.toArray(String[]::new))).as("javac").isZero();
        Path jar = build.resolve("test.api-" + bundleVersion + ".jar");
        try (Builder b = new Builder()) {
            b.setProperty("Bundle-SymbolicName", "test.api");
            b.setProperty("Bundle-Version", bundleVersion);
            b.setProperty("Export-Package", "test.api");
            b.addClasspath(classes.toFile());
            try (Jar built = b.build()) {
                assertThat(b.getErrors()).as("bnd").isEmpty();
                built.write(jar.toFile());
            }
        }
        return jar;
    }

    private static Path osgiAnnotations() throws URISyntaxException, IOException {
        return Path.of(org.osgi.annotation.versioning.Version.class.getProtectionDomain().getCodeSource()
                .getLocation().toURI());
    }
}
