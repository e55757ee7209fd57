package dev.arbor.processor.structured.internal;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.ToLongFunction;

/**
 * A thread-safe least-recently-used map bounded by entries and by a total weight (bytes); values are computed
 * outside the lock, so two threads may compute the same value once each (the computation is pure).
 */
final class LruCache<K, V> {
    private final LinkedHashMap<K, V> map = new LinkedHashMap<>(16, 0.75f, true);
    private final int maxEntries;
    private final long maxWeight;
    private final ToLongFunction<V> weigher;
    private long weight;
    private long hits;
    private long misses;

    LruCache(int maxEntries, long maxWeight, ToLongFunction<V> weigher) {
        this.maxEntries = maxEntries;
        this.maxWeight = maxWeight;
        this.weigher = weigher;
    }

    synchronized V get(K key) {
        V v = map.get(key);
        if (v != null) {
            hits++;
        } else {
            misses++;
        }
        return v;
    }

    synchronized void put(K key, V value) {
        V old = map.put(key, value);
        if (old != null) {
            weight -= weigher.applyAsLong(old);
        }
        weight += weigher.applyAsLong(value);
        Iterator<Map.Entry<K, V>> it = map.entrySet().iterator();
        while ((map.size() > maxEntries || weight > maxWeight) && it.hasNext()) {
            Map.Entry<K, V> eldest = it.next();
            if (eldest.getKey().equals(key) && map.size() == 1) {
                break;
            }
            weight -= weigher.applyAsLong(eldest.getValue());
            it.remove();
        }
    }

    V computeIfAbsent(K key, java.util.function.Function<K, V> compute) {
        V v = get(key);
        if (v == null) {
            v = compute.apply(key);
            put(key, v);
        }
        return v;
    }

    synchronized int size() {
        return map.size();
    }

    synchronized long hits() {
        return hits;
    }

    synchronized long misses() {
        return misses;
    }

    synchronized void clear() {
        map.clear();
        weight = 0;
    }
}
