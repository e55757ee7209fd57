package dev.arbor.processor.structured.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The caches stay within their bounds, evicting the least recently used entries first. */
class LruCacheTest {

    @Test
    void evictsLeastRecentlyUsedByCountAndWeight() {
        LruCache<String, byte[]> cache = new LruCache<>(3, 100, v -> v.length);
        cache.put("a", new byte[10]);
        cache.put("b", new byte[10]);
        cache.put("c", new byte[10]);
        assertThat(cache.get("a")).isNotNull(); // a is now the most recent
        cache.put("d", new byte[10]);
        assertThat(cache.get("b")).isNull();
        assertThat(cache.get("a")).isNotNull();
        cache.put("e", new byte[95]); // over the weight: everything older goes
        assertThat(cache.size()).isEqualTo(1);
        assertThat(cache.get("e")).isNotNull();
    }

    @Test
    void maskCacheOfAConstraintIsBounded() {
        Constraints constraints = new Constraints();
        Constraint c = new Constraint(constraints.grammar(new Constraints.Source(Constraints.REGEX, "[a-z]{0,30}")),
                constraints.vocabulary(Fixtures.tok512()), 5, Long.MAX_VALUE);
        State state = c.initial();
        for (int i = 0; i < 20; i++) {
            c.mask(state);
            state = c.recognizer.advance(state, new byte[] {'x'});
        }
        assertThat(c.cache().size()).isEqualTo(5);
        assertThat(List.of(c.cache().misses())).containsExactly(20L);
    }
}
