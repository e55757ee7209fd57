package dev.arbor.platform.runtime.internal;

import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Opened models and tokenizers, shared by every request of every pipeline that names the same file with the same
 * provider. Each entry remembers the provider service that opened it; when a better or replacement provider
 * appears, or the provider leaves, the entry is retired and closed once its last request releases it — a model's
 * native memory is never freed under a running request.
 */
public final class ResourceCache<T> {
    private final Consumer<T> closer;
    private final Map<Key, Entry<T>> entries = new HashMap<>();

    public ResourceCache(Consumer<T> closer) {
        this.closer = closer;
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
        int users;
        boolean retired;

        Entry(T value) {
            this.value = value;
        }
    }

    /**
     * The resource for {@code key}, opening it with {@code opener} if absent. Opening happens under the cache lock
     * so two requests never load the same model twice; a failed open is not cached (the next request retries).
     */
    public synchronized Handle acquire(Key key, Supplier<T> opener) {
        Entry<T> entry = entries.get(key);
        if (entry == null) {
            entry = new Entry<>(Objects.requireNonNull(opener.get(), "opener returned null"));
            entries.put(key, entry);
        }
        entry.users++;
        return new Handle(entry);
    }

    /** Retires entries opened by providers that are no longer current; closes those nobody uses. */
    public synchronized void retireUnless(java.util.function.LongPredicate providerIsCurrent) {
        for (Iterator<Map.Entry<Key, Entry<T>>> it = entries.entrySet().iterator(); it.hasNext();) {
            Map.Entry<Key, Entry<T>> e = it.next();
            if (!providerIsCurrent.test(e.getKey().providerServiceId())) {
                it.remove();
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
