package dev.arbor.platform.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.LocalDate;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Version;

/** The trust policy file as operator tools edit it: lines kept as written, atomic replacement, no lost update. */
class TrustFileTest {
    private static final String A = "a".repeat(64);
    private static final String B = "0123456789ABCDEF".repeat(4);
    private static final String HEADER = "# Bundles trusted to run from deploy/.\n#\n#   <sha256-hex>  <comment>\n";

    @TempDir
    Path dir;

    @Test
    void readsDigestsCommentsAndProblemsAsTheWatcherAndTheLauncherDo() {
        TrustFile f = TrustFile.parse(Path.of("t.sha256"), HEADER + "\n" + A + "  runner-up\n  " + B
                + " *x.jar\nnot-a-digest\n");
        assertThat(f.entries()).containsExactly(new TrustFile.Entry(5, A, "runner-up"),
                new TrustFile.Entry(6, B.toLowerCase(), "*x.jar"));
        assertThat(f.trusts(B)).isTrue();
        assertThat(f.trusts("b".repeat(64))).isFalse();
        assertThat(f.problems()).singleElement().asString().startsWith("t.sha256:7: 'not-a-digest'");
    }

    @Test
    void addingAndRemovingKeepsEveryOtherLineAsWritten() {
        TrustFile f = TrustFile.parse(Path.of("t"), HEADER + "# my note about A\n" + A + "  first\n");
        TrustFile added = f.with(B, "second");
        assertThat(added.with(B.toLowerCase(), "again")).isSameAs(added);
        assertThat(added.text()).isEqualTo(HEADER + "# my note about A\n" + A + "  first\n" + B.toLowerCase()
                + "  second\n");
        TrustFile removed = added.without(List.of(A));
        assertThat(removed.text()).isEqualTo(HEADER + "# my note about A\n" + B.toLowerCase() + "  second\n");
        assertThat(removed.trusts(A)).isFalse();
        assertThatThrownBy(() -> f.with("abc", "x")).hasMessageContaining("not a SHA-256 digest");
        assertThatThrownBy(() -> f.with(B, "two\nlines")).hasMessageContaining("one line");
    }

    @Test
    void theCommentOfTrustAddNamesFileBundleVersionAndDayAndReadsBack() {
        String c = TrustFile.comment("my-plugin-1.0.1.jar", "com.acme.plugin", "1.0.1", LocalDate.of(2026, 12, 7));
        assertThat(c).isEqualTo("my-plugin-1.0.1.jar (com.acme.plugin 1.0.1, trusted 2026-12-07)");
        assertThat(TrustFile.described(c)).contains(new TrustFile.Described("com.acme.plugin", "1.0.1",
                LocalDate.of(2026, 12, 7)));
        assertThat(TrustFile.described("runner-up-selector.jar")).isEmpty();
        assertThat(TrustFile.described(null)).isEmpty();
    }

    @Test
    void updateReplacesTheFileAtomicallyKeepingItsPermissions() throws Exception {
        Path file = dir.resolve("trust/trusted-bundles.sha256");
        TrustFile created = TrustFile.update(file, f -> f.with(A, "first"));
        assertThat(created.exists()).isTrue();
        assertThat(Files.readString(file)).isEqualTo(A + "  first\n");
        Files.writeString(file, HEADER + A + "  first\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r-----"));
        Object before = Files.readAttributes(file, "unix:ino").get("ino");
        TrustFile.update(file, f -> f.with(B, "second"));
        assertThat(Files.readString(file)).isEqualTo(HEADER + A + "  first\n" + B.toLowerCase() + "  second\n");
        assertThat(Files.getPosixFilePermissions(file)).isEqualTo(PosixFilePermissions.fromString("rw-r-----"));
        assertThat(Files.readAttributes(file, "unix:ino").get("ino")).as("a new file renamed into place")
                .isNotEqualTo(before);
        try (var left = Files.list(file.getParent())) {
            assertThat(left.map(p -> p.getFileName().toString()))
                    .containsExactlyInAnyOrder("trusted-bundles.sha256", ".trusted-bundles.sha256.lock");
        }
        // no change, no write
        Object now = Files.readAttributes(file, "unix:ino").get("ino");
        TrustFile.update(file, f -> f.with(A, "again"));
        assertThat(Files.readAttributes(file, "unix:ino").get("ino")).isEqualTo(now);
    }

    @Test
    void concurrentEditorsLoseNoLine() throws Exception {
        Path file = dir.resolve("trusted-bundles.sha256");
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<TrustFile>> done = new java.util.ArrayList<>();
            for (int i = 0; i < 64; i++) {
                String digest = String.format("%064x", i);
                done.add(pool.submit(() -> TrustFile.update(file, f -> f.with(digest, "n" + digest.substring(60)))));
            }
            for (Future<TrustFile> f : done) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
        assertThat(TrustFile.read(file).digests()).hasSize(64);
    }

    @Test
    void aBundleFileHasItsDigestNameAndVersion() throws Exception {
        Path jar = dir.resolve("x.jar");
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().putValue("Bundle-SymbolicName", "com.acme.x;singleton:=true");
        m.getMainAttributes().putValue("Bundle-Version", "1.2.3.qualifier");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), m)) {
            out.flush();
        }
        BundleFile b = BundleFile.read(jar);
        assertThat(b.symbolicName()).isEqualTo("com.acme.x");
        assertThat(b.version()).isEqualTo(new Version(1, 2, 3, "qualifier"));
        assertThat(b.sha256()).isEqualTo(BundleFile.sha256(jar)).hasSize(64);
        m.getMainAttributes().putValue("Bundle-Version", "1.x");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), m)) {
            out.flush();
        }
        assertThatThrownBy(() -> BundleFile.read(jar)).hasMessageContaining("x.jar has Bundle-Version '1.x'");
        Manifest plain = new Manifest();
        plain.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), plain)) {
            out.flush();
        }
        assertThat(BundleFile.read(jar).isBundle()).isFalse();
        assertThat(Set.of(BundleFile.read(jar).describe())).containsExactly("x.jar");
    }
}
