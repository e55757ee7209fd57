package dev.arbor.models.llama2c;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileDigestMemoTest {
    @TempDir
    Path dir;

    private final AtomicInteger hashes = new AtomicInteger();

    private String digest(Path file, long settleNanos) throws IOException {
        return FileDigestMemo.sha256(file, dir.resolve("cache"), f -> {
            hashes.incrementAndGet();
            return Llama2cOnnxConverter.sha256(f);
        }, settleNanos);
    }

    @Test
    void anUnchangedFileIsHashedOnce() throws IOException {
        Path model = Files.write(dir.resolve("model.bin"), new byte[] {1, 2, 3, 4});
        String first = digest(model, 0);
        assertEquals(first, digest(model, 0));
        assertEquals(1, hashes.get(), "the second call reads the memo");
        assertEquals(Llama2cOnnxConverter.sha256(model), first);
    }

    @Test
    void aFileChangedInPlaceWithItsTimeSetBackIsHashedAgain() throws IOException {
        Path model = Files.write(dir.resolve("model.bin"), new byte[] {1, 2, 3, 4});
        FileTime mtime = Files.getLastModifiedTime(model);
        String before = digest(model, 0);
        // same size, same modification time: only the status-change time (or inode) tells the files apart
        Files.write(model, new byte[] {9, 9, 9, 9});
        Files.setLastModifiedTime(model, mtime);
        String after = digest(model, 0);
        assertNotEquals(before, after);
        assertEquals(Llama2cOnnxConverter.sha256(model), after);
        assertEquals(2, hashes.get());
    }

    @Test
    void aFileReplacedByRenameIsHashedAgain() throws IOException {
        Path model = Files.write(dir.resolve("model.bin"), new byte[] {1, 2, 3, 4});
        String before = digest(model, 0);
        Path other = Files.write(dir.resolve("other.bin"), new byte[] {5, 6, 7, 8});
        Files.setLastModifiedTime(other, Files.getLastModifiedTime(model));
        Files.move(other, model, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertNotEquals(before, digest(model, 0));
        assertEquals(2, hashes.get());
    }

    @Test
    void aFileWrittenJustNowIsNotRecorded() throws IOException {
        Path model = Files.write(dir.resolve("model.bin"), new byte[] {1, 2, 3, 4});
        digest(model, FileDigestMemo.SETTLE_NANOS);
        digest(model, FileDigestMemo.SETTLE_NANOS);
        assertEquals(2, hashes.get(), "a write in the same clock tick could hide behind its time stamps");
    }
}
