package dev.arbor.backend.remote;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;

/**
 * A decode state held by the remote side. In the stateful form the server keeps the KV state under {@link #id()}
 * (created by the first forward, freed by {@link #close}; a server frees it anyway once idle past its TTL) and this
 * object tracks only its length; a truncation waits for the next request of the sequence. In the stateless form the
 * server keeps nothing and this object keeps each row's token ids and positions, which every forward sends again
 * (full recompute: exact, and what a server that declares no state can serve). Not thread-safe, like every state.
 */
final class RemoteDecodeState implements DecodeState {
    private static final SecureRandom IDS = new SecureRandom();

    private final RemoteModelBackend backend;
    private final String id;
    private int batch;
    private int length;
    /** The server holds this sequence (its first forward ran). */
    private boolean started;
    /** A truncation to send with the next request, or -1. */
    private int pendingTruncate = -1;
    /** A call failed mid-way: the server's copy may differ from this object, so it cannot be used any more. */
    private String broken;
    private boolean closed;
    /** Stateless form: [row][slot] token ids and positions. */
    private int[][] tokens;
    private int[][] positions;

    RemoteDecodeState(RemoteModelBackend backend, int batch) {
        this.backend = backend;
        this.id = newId();
        this.batch = batch;
        if (!backend.stateful()) {
            tokens = new int[batch][0];
            positions = new int[batch][0];
        }
    }

    private RemoteDecodeState(RemoteDecodeState source) {
        this.backend = source.backend;
        this.id = newId();
        this.batch = source.batch;
        this.length = source.length;
        if (source.tokens != null) {
            this.tokens = copy(source.tokens);
            this.positions = copy(source.positions);
        }
    }

    /** A sequence id: 128 random bits, so one client cannot name (and free or read) another's sequence. */
    private static String newId() {
        byte[] b = new byte[16];
        IDS.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    String id() {
        return id;
    }

    RemoteModelBackend backend() {
        return backend;
    }

    boolean started() {
        return started;
    }

    /** Called once a forward of this sequence succeeded on the server. */
    void markStarted() {
        started = true;
    }

    /** The truncation to send with the next request (-1: none), cleared. */
    int takePendingTruncate() {
        int t = pendingTruncate;
        pendingTruncate = -1;
        return t;
    }

    void markBroken(String why) {
        broken = why;
    }

    /** Fails when the state is closed or a call on it failed. */
    void checkUsable() {
        if (closed) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, "this remote decode state is closed");
        }
        if (broken != null) {
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "this remote decode state cannot be used any"
                    + " more: " + broken);
        }
    }

    void setLength(int length) {
        this.length = length;
    }

    void setBatch(int batch) {
        this.batch = batch;
    }

    int[][] tokens() {
        return tokens;
    }

    int[][] positions() {
        return positions;
    }

    /** Stateless form: appends row b's new tokens and positions. */
    void append(int[][] newTokens, int[][] newPositions) {
        for (int b = 0; b < batch; b++) {
            tokens[b] = concat(tokens[b], newTokens[b]);
            positions[b] = concat(positions[b], newPositions[b]);
        }
        length += newTokens[0].length;
    }

    @Override
    public int batchSize() {
        return batch;
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public void truncate(int newLength) {
        checkUsable();
        require(Capability.STATE_TRUNCATE, "truncate");
        if (newLength < 0 || newLength > length) {
            throw ArborException.invalid("truncate to " + newLength + " slots, but the state holds " + length);
        }
        if (tokens != null) {
            for (int b = 0; b < batch; b++) {
                tokens[b] = Arrays.copyOf(tokens[b], newLength);
                positions[b] = Arrays.copyOf(positions[b], newLength);
            }
        } else if (started && newLength < length) {
            // sent with the next request of this sequence: rollback costs no round trip of its own
            pendingTruncate = newLength;
        }
        length = newLength;
    }

    @Override
    public void compact(int[] keepSlots) {
        checkUsable();
        require(Capability.STATE_COMPACT, "compact");
        int previous = -1;
        for (int s : keepSlots) {
            if (s <= previous || s >= length) {
                throw ArborException.invalid("compact needs ascending slots below the state's length " + length
                        + ", got " + Arrays.toString(keepSlots));
            }
            previous = s;
        }
        if (tokens != null) {
            for (int b = 0; b < batch; b++) {
                tokens[b] = pick(tokens[b], keepSlots);
                positions[b] = pick(positions[b], keepSlots);
            }
        } else if (started) {
            backend.stateOperation(this, ForwardProtocol.OP_COMPACT,
                    Map.of(ForwardProtocol.INDICES, ForwardProtocol.joined(keepSlots)));
        }
        length = keepSlots.length;
    }

    @Override
    public DecodeState fork() {
        checkUsable();
        require(Capability.STATE_FORK, "fork");
        RemoteDecodeState copy = new RemoteDecodeState(this);
        if (tokens == null && started) {
            backend.stateOperation(this, ForwardProtocol.OP_FORK, Map.of(ForwardProtocol.FORK_ID, copy.id));
            copy.started = true;
        }
        return copy;
    }

    @Override
    public void selectRows(int[] sourceRows) {
        checkUsable();
        require(Capability.STATE_SELECT_ROWS, "selectRows");
        for (int r : sourceRows) {
            if (r < 0 || r >= batch) {
                throw ArborException.invalid("selectRows names row " + r + " of a state of " + batch + " rows");
            }
        }
        if (sourceRows.length == 0) {
            throw ArborException.invalid("selectRows needs at least one row");
        }
        if (tokens != null) {
            int[][] t = new int[sourceRows.length][];
            int[][] p = new int[sourceRows.length][];
            for (int i = 0; i < sourceRows.length; i++) {
                t[i] = tokens[sourceRows[i]].clone();
                p[i] = positions[sourceRows[i]].clone();
            }
            tokens = t;
            positions = p;
        } else if (started) {
            backend.stateOperation(this, ForwardProtocol.OP_SELECT_ROWS,
                    Map.of(ForwardProtocol.INDICES, ForwardProtocol.joined(sourceRows)));
        }
        batch = sourceRows.length;
    }

    /** Frees the server's copy (best effort: a server that is gone frees it at its TTL). Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (tokens == null && started && broken == null) {
            backend.free(this);
        }
    }

    private void require(Capability capability, String operation) {
        if (!backend.card().supports(capability)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "the remote model " + backend.card().name()
                    + " does not offer " + operation + " (" + capability + ")");
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static int[] pick(int[] row, int[] slots) {
        int[] out = new int[slots.length];
        for (int i = 0; i < slots.length; i++) {
            out[i] = row[slots[i]];
        }
        return out;
    }

    private static int[][] copy(int[][] a) {
        int[][] out = new int[a.length][];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i].clone();
        }
        return out;
    }
}
