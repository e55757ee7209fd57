package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The series files of {@code arbor prognostics}: CSV with a header, comments and mixed separators; bad rows named. */
class PrognosticsCommandTest {
    @TempDir
    Path dir;

    private double[][] read(String text) throws Exception {
        Path f = dir.resolve("s.csv");
        Files.writeString(f, text);
        return PrognosticsCommand.readCsv(f, "series");
    }

    @Test
    void readsRowsSkippingHeaderCommentsAndBlankLines() throws Exception {
        assertThat(read("hi,temp\n# a comment\n1.0, 2\n\n3;4\n5 6\n")).isDeepEqualTo(
                new double[][] {{1, 2}, {3, 4}, {5, 6}});
        assertThat(read("0.5\n0.25\r\n")).isDeepEqualTo(new double[][] {{0.5}, {0.25}});
    }

    @Test
    void refusesRaggedRowsTextAndEmptyFiles() {
        assertThatThrownBy(() -> read("1,2\n3\n")).isInstanceOf(ArborException.class)
                .hasMessageContaining("line 2").hasMessageContaining("1 values where the first row has 2");
        assertThatThrownBy(() -> read("1\nabc\n")).hasMessageContaining("line 2: 'abc' is not a row of numbers");
        assertThatThrownBy(() -> read("# nothing\n")).hasMessageContaining("holds no rows");
        assertThatThrownBy(() -> PrognosticsCommand.readCsv(dir.resolve("missing.csv"), "series"))
                .hasMessageContaining("does not exist");
    }

    @Test
    void pathsPrintAsRuns() {
        assertThat(PrognosticsCommand.runs(new int[] {0, 0, 0, 1, 3, 3})).isEqualTo("0x3 1x1 3x2");
    }
}
