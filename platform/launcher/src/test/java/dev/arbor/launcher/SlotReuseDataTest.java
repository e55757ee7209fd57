package dev.arbor.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a reused storage keeps of the bundles' data areas: SCR's component metadata cache, nothing else. */
class SlotReuseDataTest {
    @TempDir
    Path storage;

    @Test
    void onlyScrsComponentMetadataSurvives() throws IOException {
        Path scr = Files.createDirectories(storage.resolve("bundle7/data"));
        Files.writeString(scr.resolve(SlotReuse.COMPONENT_METADATA), "cache");
        Files.writeString(scr.resolve("other"), "x");
        Path cm = Files.createDirectories(storage.resolve("bundle9/data/config/dev/arbor"));
        Files.writeString(cm.resolve("pipeline.config"), "apiKey=secret");
        // a file of that name deeper down is some bundle's own data, not SCR's cache
        Files.writeString(cm.resolve(SlotReuse.COMPONENT_METADATA), "y");

        SlotReuse.discardBundleData(storage);

        assertThat(scr.resolve(SlotReuse.COMPONENT_METADATA)).hasContent("cache");
        assertThat(scr.resolve("other")).doesNotExist();
        assertThat(storage.resolve("bundle9/data")).doesNotExist();
    }
}
