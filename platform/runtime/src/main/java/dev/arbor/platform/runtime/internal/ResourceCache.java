package dev.arbor.platform.runtime.internal;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Opened models and tokenizers, shared by every request of every pipeline that names the same file with the same
 * provider. Each entry remembers the provider service that opened it; when a better or replacement provider
 * appears, or the provider leaves, the entry is retired and closed once its last request releases it — a model's
 * native memory is never freed under a running request.
 *
 * <p>The cache is bounded by bytes: opening an entry that would pass the bound first closes the least recently used
 * entries that no request holds; when the entries in use alone leave no room, the open is refused (UNAVAILABLE,
 * naming the setting) instead of growing without bound.
 */
public final class ResourceCache<T> {
    private final Consumer<T> closer;
    private final long maxBytes;
    private final String boundSetting;
    /** In access order: the first entries are the least recently used. */
    private final LinkedHashMap<Key, Entry<T>> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;

    /** An unbounded cache (tokenizers: one per configured pipeline, owned by their providers). */
    public ResourceCache(Consumer<T> closer) {
        this(closer, Long.MAX_VALUE, null);
    }

    /** A cache of at most {@code maxBytes}, the value of operator setting {@code boundSetting}. */
    public ResourceCache(Consumer<T> closer, long maxBytes, String boundSetting) {
        this.closer = closer;
        this.maxBytes = maxBytes;
        this.boundSetting = boundSetting;
    }

    /** One entry as operators see it. */
    public record EntryInfo(String description, long bytes, int users) {
    }

    /** The cache key: which provider service opened what. */
    public record Key(long providerServiceId, String description) {
    }

    /** A counted reference to a cached resource; close it when the request ends. */
    public final class Handle implements AutoCloseable {
        private final Entry<T> entry;
        private boolean closed;

        private Handle(Entry<T> entry) {
            this.entry = entry;
        }

        public T get() {
            return entry.value;
        }

        @Override
        public void close() {
            synchronized (ResourceCache.this) {
                if (closed) {
                    return;
                }
                closed = true;
                entry.users--;
                if (entry.retired && entry.users == 0) {
                    closeQuietly(entry.value);
                }
            }
        }
    }

    private static final class Entry<T> {
        final T value;
        final long bytes;
        int users;
        boolean retired;

        Entry(T value, long bytes) {
            this.value = value;
            this.bytes = bytes;
        }
    }

    /** {@link #acquire(Key, long, Supplier)} for entries whose size does not count. */
    public Handle acquire(Key key, Supplier<T> opener) {
        return acquire(key, 0L, opener);
    }

    /**
     * The resource for {@code key}, opening it with {@code opener} if absent ({@code bytes}: its estimated size).
     * Opening happens under the cache lock so two requests never load the same model twice; a failed open is not
     * cached (the next request retries).
     */
    public synchronized Handle acquire(Key key, long bytes, Supplier<T> opener) {
        Entry<T> entry = entries.get(key);
        if (entry == null) {
            makeRoom(bytes);
            entry = new Entry<>(Objects.requireNonNull(opener.get(), "opener returned null"), bytes);
            entries.put(key, entry);
            this.bytes += bytes;
        }
        entry.users++;
        return new Handle(entry);
    }

    /** Closes idle entries, least recently used first, until {@code needed} more bytes fit the bound. */
    private void makeRoom(long needed) {
        for (Iterator<Entry<T>> it = entries.values().iterator(); it.hasNext() && bytes + needed > maxBytes;) {
            Entry<T> e = it.next();
            if (e.users == 0) {
                it.remove();
                bytes -= e.bytes;
                closeQuietly(e.value);
            }
        }
        if (bytes + needed > maxBytes) {
            throw new dev.arbor.api.ArborException(dev.arbor.api.ArborException.Kind.UNAVAILABLE, "the model cache "
                    + "is full: " + needed + " more bytes do not fit its bound of " + maxBytes + " bytes ("
                    + (bytes == 0 ? "the model alone is larger" : bytes + " bytes are in use by running requests")
                    + "); try again later, or the operator raises " + boundSetting);
        }
    }

    /** Bytes of the entries held now. */
    public synchronized long bytes() {
        return bytes;
    }

    public long maxBytes() {
        return maxBytes;
    }

    /** The entries, least recently used first. */
    public synchronized List<EntryInfo> entries() {
        List<EntryInfo> out = new ArrayList<>();
        entries.forEach((k, e) -> out.add(new EntryInfo(k.description(), e.bytes, e.users)));
        return out;
    }

    /** Retires entries opened by providers that are no longer current; closes those nobody uses. */
    public synchronized void retireUnless(java.util.function.LongPredicate providerIsCurrent) {
        for (Iterator<Map.Entry<Key, Entry<T>>> it = entries.entrySet().iterator(); it.hasNext();) {
            Map.Entry<Key, Entry<T>> e = it.next();
            if (!providerIsCurrent.test(e.getKey().providerServiceId())) {
                it.remove();
                bytes -= e.getValue().bytes;
                e.getValue().retired = true;
                if (e.getValue().users == 0) {
                    closeQuietly(e.getValue().value);
                }
            }
        }
    }

    /** Retires everything (shutdown). */
    public void retireAll() {
        retireUnless(id -> false);
    }

    public synchronized int size() {
        return entries.size();
    }

    private void closeQuietly(T value) {
        try {
            closer.accept(value);
        } catch (RuntimeException e) {
            System.getLogger("dev.arbor.runtime").log(System.Logger.Level.WARNING,
                    "closing a retired model or tokenizer failed: " + e);
        }
    }
}
