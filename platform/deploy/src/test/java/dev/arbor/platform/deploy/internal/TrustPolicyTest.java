package dev.arbor.platform.deploy.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrustPolicyTest {
    private static final String A = "a".repeat(64);
    private static final String B = "0123456789ABCDEF".repeat(4);

    @Test
    void readsDigestsWithCommentsAndSha256sumOutputAndReportsBadLines() {
        TrustPolicy p = TrustPolicy.parse(List.of("# header", "", A + "  runner-up selector", "  " + B + " *x.jar",
                "not-a-digest  oops", "abc123"), "trusted-bundles.sha256");
        assertThat(p.trusts(A)).isTrue();
        assertThat(p.trusts(B.toLowerCase())).isTrue();
        assertThat(p.trusts("b".repeat(64))).isFalse();
        assertThat(p.trusts(null)).isFalse();
        assertThat(p.size()).isEqualTo(2);
        assertThat(p.problems()).hasSize(2);
        assertThat(p.problems().get(0)).startsWith("trusted-bundles.sha256:5: 'not-a-digest  oops'");
        assertThat(p.problems().get(1)).startsWith("trusted-bundles.sha256:6:");
    }

    @Test
    void aMissingFileTrustsNothing(@TempDir Path dir) throws Exception {
        TrustPolicy p = TrustPolicy.read(dir.resolve("missing.sha256"));
        assertThat(p.exists()).isFalse();
        assertThat(p.trusts(A)).isFalse();
    }

    @Test
    void copyAndHashGivesTheDigestOfTheCopiedBytes(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("x.jar");
        Files.writeString(file, "abc");
        Path copy = dir.resolve("copy.jar");
        assertThat(DeployWatcher.copyAndHash(file, copy))
                .isEqualTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assertThat(Files.readString(copy)).isEqualTo("abc");
    }
}
