package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.ModelRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResourceCacheTest {
    private final List<String> closed = new ArrayList<>();
    private final AtomicInteger opens = new AtomicInteger();

    private ResourceCache<String> cache(long maxBytes) {
        return new ResourceCache<>(closed::add, maxBytes, "arbor.models.cache.max_bytes");
    }

    private static ResourceCache.Key key(String name) {
        return new ResourceCache.Key(1L, name);
    }

    private String open(String name) {
        opens.incrementAndGet();
        return name;
    }

    @Test
    void idleEntriesAreEvictedLeastRecentlyUsedFirstWhenBytesRunOut() {
        ResourceCache<String> cache = cache(100);
        cache.acquire(key("a"), 40, () -> open("a")).close();
        cache.acquire(key("b"), 40, () -> open("b")).close();
        cache.acquire(key("a"), 40, () -> open("a")).close(); // a is now the most recently used
        cache.acquire(key("c"), 40, () -> open("c")).close();
        assertThat(closed).containsExactly("b");
        assertThat(cache.bytes()).isEqualTo(80);
        assertThat(cache.entries()).extracting(ResourceCache.EntryInfo::description).containsExactly("a", "c");
    }

    @Test
    void anEntryInUseIsNeverEvictedAndAnOpenThatDoesNotFitIsRefused() {
        ResourceCache<String> cache = cache(100);
        var held = cache.acquire(key("a"), 80, () -> open("a"));
        assertThatThrownBy(() -> cache.acquire(key("b"), 40, () -> open("b")))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.UNAVAILABLE))
                .hasMessageContaining("arbor.models.cache.max_bytes");
        assertThat(closed).isEmpty();
        assertThat(opens).hasValue(1);
        held.close();
        cache.acquire(key("b"), 40, () -> open("b")).close();
        assertThat(closed).containsExactly("a");
    }

    @Test
    void theBoundHoldsOverManyDistinctEntries() {
        ResourceCache<String> cache = cache(100);
        for (int i = 0; i < 40; i++) {
            String n = "m" + i;
            cache.acquire(key(n), 30, () -> open(n)).close();
            assertThat(cache.bytes()).isLessThanOrEqualTo(100);
        }
        assertThat(cache.entries()).hasSize(3);
    }

    @Test
    void optionSetsThatChangeNoWeightsShareOneEntry(@TempDir Path dir) throws Exception {
        Path file = Files.write(dir.resolve("draft.bin"), new byte[64]);
        ResourceCache<String> cache = cache(1000);
        List<ModelRef> refs = List.of(
                new ModelRef("onnxruntime", "llama2c", file.toString(), Options.of(Map.of("device", "cpu"))),
                new ModelRef("onnxruntime", "llama2c", dir + "/./draft.bin", Options.of(Map.of("device", "cpu"))),
                new ModelRef("onnxruntime", "llama2c", file.toString(),
                        Options.of(Map.of("device", "cpu", "cache_dir", dir.resolve("a").toString()))),
                new ModelRef("onnxruntime", "llama2c", file.toString(),
                        Options.of(Map.of("cache_dir", dir.resolve("b").toString(), "device", "cpu"))));
        for (ModelRef ref : refs) {
            cache.acquire(ModelKeys.key(7L, ref), ModelKeys.bytes(ref), () -> open("draft")).close();
        }
        assertThat(opens).hasValue(1);
        assertThat(cache.bytes()).isEqualTo(64);
        // keep_layers changes the weights: another entry
        ModelRef layers = new ModelRef("onnxruntime", "llama2c", file.toString(),
                Options.of(Map.of("device", "cpu", "keep_layers", 1)));
        cache.acquire(ModelKeys.key(7L, layers), ModelKeys.bytes(layers), () -> open("layers")).close();
        assertThat(opens).hasValue(2);
    }

    @Test
    void aReplacedFileIsANewEntry(@TempDir Path dir) throws Exception {
        Path file = Files.write(dir.resolve("m.bin"), new byte[8]);
        ModelRef ref = new ModelRef("onnxruntime", "llama2c", file.toString(), Options.empty());
        ResourceCache.Key before = ModelKeys.key(1L, ref);
        Files.write(file, new byte[16]);
        assertThat(ModelKeys.key(1L, ref)).isNotEqualTo(before);
    }
}
