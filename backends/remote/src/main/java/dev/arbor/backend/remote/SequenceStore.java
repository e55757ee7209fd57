package dev.arbor.backend.remote;

import dev.arbor.api.model.DecodeState;
import dev.arbor.platform.oip.InferenceException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

/**
 * The server's live sequences (Triton's sequence batching with implicit state): one {@link DecodeState} per client
 * sequence id, at most {@code maxSequences} at once, each freed by its client ({@code sequence_end}) or once idle for
 * {@code ttlMillis} ({@link #reap}), so a client that vanished cannot hold memory. Thread-safe; a sequence is used by
 * one call at a time ({@link Entry#lock}).
 */
final class SequenceStore implements AutoCloseable {
    /** Longest sequence id accepted (the client's are 32 hex digits). */
    static final int MAX_ID_LENGTH = 64;

    private final Map<String, Entry> live = new ConcurrentHashMap<>();
    private final int maxSequences;
    private final long ttlMillis;
    private final LongSupplier clockMillis;

    /** One live sequence; {@link #state} is used only while {@link #lock} is held. */
    static final class Entry {
        final ReentrantLock lock = new ReentrantLock();
        final String id;
        final DecodeState state;
        volatile long lastUsedMillis;
        /** Set once freed (under the lock): a call that looked it up before must not use it. */
        boolean freed;

        Entry(String id, DecodeState state, long now) {
            this.id = id;
            this.state = state;
            this.lastUsedMillis = now;
        }
    }

    SequenceStore(int maxSequences, long ttlMillis, LongSupplier clockMillis) {
        this.maxSequences = maxSequences;
        this.ttlMillis = ttlMillis;
        this.clockMillis = clockMillis;
    }

    /** Checks a client's sequence id: a string (or integer) of at most {@value #MAX_ID_LENGTH} safe characters. */
    static String checkedId(Object id, String parameter) throws InferenceException {
        String s = id instanceof Number n ? Long.toString(n.longValue()) : id instanceof String t ? t : null;
        if (s == null || s.isEmpty() || s.length() > MAX_ID_LENGTH || !s.matches("[A-Za-z0-9_-]+")) {
            throw new InferenceException(InferenceException.Status.INVALID, parameter + " must be a string of 1 to "
                    + MAX_ID_LENGTH + " letters, digits, '_' or '-'");
        }
        return s;
    }

    /**
     * Registers a new sequence holding {@code state} (which the store now owns: freed with the sequence); refuses
     * an id already live and a store that is full (the state is closed then).
     */
    Entry start(String id, DecodeState state) throws InferenceException {
        Entry entry = new Entry(id, state, clockMillis.getAsLong());
        synchronized (this) {
            if (live.containsKey(id)) {
                state.close();
                throw new InferenceException(InferenceException.Status.INVALID, "sequence " + id
                        + " is already live; a sequence_start needs a new sequence_id");
            }
            if (live.size() >= maxSequences) {
                state.close();
                throw new InferenceException(InferenceException.Status.UNAVAILABLE, "the server holds "
                        + live.size() + " live sequences, its limit; retry when some end (idle ones are freed after "
                        + ttlMillis + " ms)");
            }
            live.put(id, entry);
        }
        return entry;
    }

    /** The live sequence {@code id}, marked as used now; NOT_FOUND when it never started, ended or expired. */
    Entry get(String id) throws InferenceException {
        Entry entry = live.get(id);
        if (entry == null) {
            throw new InferenceException(InferenceException.Status.NOT_FOUND, "no live sequence " + id
                    + " (never started, ended, or freed after " + ttlMillis + " ms idle)");
        }
        entry.lastUsedMillis = clockMillis.getAsLong();
        return entry;
    }

    /** Frees sequence {@code id} if live (waits for a call using it); true when it was. */
    boolean free(String id) {
        Entry entry = live.get(id);
        if (entry == null) {
            return false;
        }
        entry.lock.lock();
        try {
            return release(entry);
        } finally {
            entry.lock.unlock();
        }
    }

    /** Removes and closes {@code entry}; the caller holds its lock. */
    boolean release(Entry entry) {
        if (entry.freed) {
            return false;
        }
        entry.freed = true;
        live.remove(entry.id, entry);
        entry.state.close();
        return true;
    }

    /** Frees every sequence idle for longer than the TTL and not in use now; returns how many. */
    int reap() {
        long now = clockMillis.getAsLong();
        int freed = 0;
        for (Entry entry : live.values()) {
            if (now - entry.lastUsedMillis > ttlMillis && entry.lock.tryLock()) {
                try {
                    if (now - entry.lastUsedMillis > ttlMillis && release(entry)) {
                        freed++;
                    }
                } finally {
                    entry.lock.unlock();
                }
            }
        }
        return freed;
    }

    /** Live sequences now. */
    int size() {
        return live.size();
    }

    /** Frees every sequence. */
    @Override
    public void close() {
        for (Entry entry : live.values()) {
            entry.lock.lock();
            try {
                release(entry);
            } finally {
                entry.lock.unlock();
            }
        }
    }
}
