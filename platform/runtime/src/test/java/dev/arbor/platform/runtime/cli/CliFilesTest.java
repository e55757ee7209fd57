package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** '-' is standard input; a missing, non-text or directory argument is one clear error naming it. */
class CliFilesTest {
    private static ByteArrayInputStream stdin(String text) {
        return new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void dashAndNoFileReadStandardInput() {
        assertThat(CliFiles.readText(Path.of("-"), "text", stdin("héllo"))).isEqualTo("héllo");
        assertThat(CliFiles.readText(null, "text", stdin("x"))).isEqualTo("x");
    }

    @Test
    void aFileIsReadAsUtf8(@TempDir Path dir) throws IOException {
        Path f = Files.writeString(dir.resolve("t.txt"), "ünïcode");
        assertThat(CliFiles.readText(f, "text", stdin("unused"))).isEqualTo("ünïcode");
    }

    @Test
    void problemsAreOneLineErrorsNamingTheFile(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("nope.txt");
        assertThatThrownBy(() -> CliFiles.readText(missing, "text", stdin("")))
                .isInstanceOf(ArborException.class).hasMessageContaining(missing.toString())
                .hasMessageContaining("does not exist")
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.NOT_FOUND));
        assertThatThrownBy(() -> CliFiles.readText(dir, "API key", stdin("")))
                .isInstanceOf(ArborException.class).hasMessageContaining("is a directory");
        Path binary = Files.write(dir.resolve("b.bin"), new byte[] {(byte) 0xff, (byte) 0xfe, 0});
        assertThatThrownBy(() -> CliFiles.readText(binary, "text", stdin("")))
                .isInstanceOf(ArborException.class).hasMessageContaining("not UTF-8");
        assertThatThrownBy(() -> CliFiles.readText(null, "text",
                new ByteArrayInputStream(new byte[] {(byte) 0xc3})))
                .isInstanceOf(ArborException.class).hasMessageContaining("standard input");
    }
}
