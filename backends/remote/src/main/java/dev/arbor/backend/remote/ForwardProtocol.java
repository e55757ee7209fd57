package dev.arbor.backend.remote;

import dev.arbor.platform.oip.Tensor;
import dev.arbor.platform.oip.TensorSpec;
import java.util.List;
import java.util.Map;

/**
 * The wire form of {@code ModelBackend.forward} and the {@code DecodeState} operations over the Open Inference
 * Protocol (KServe v2), as the served model of platform {@value #PLATFORM} speaks it. One {@code ModelInfer} is one
 * operation, named by the request parameter {@value #OP}:
 * <ul>
 *   <li>{@value #OP_DESCRIBE}: no compute; the response parameters carry the model card ({@link WireCard}) and the
 *       server's limits, including {@value #STATE} = {@value #STATE_SEQUENCE} (the state stays on the server under a
 *       sequence id) or {@value #STATE_NONE} (the server keeps nothing: each forward carries the whole history);</li>
 *   <li>{@value #OP_FORWARD}: one batched forward; inputs {@value #INPUT_IDS} INT64 [B, Lq], optional
 *       {@value #POSITION_IDS} INT64 [B, Lq], {@value #LOGIT_ROWS} INT64 [B, k] (-1 pads ragged rows),
 *       {@value #QUERY_SEGMENT} INT64 [B, Lq] and {@value #KEY_SEGMENT} INT64 [B, S+Lq] (segment attention),
 *       {@value #VISIBLE} BOOL [B, Lq, S+Lq] (explicit attention), {@value #TOKEN_VALID} BOOL [B, Lq] (padding),
 *       {@value #WRITE_SLOTS} INT64 [Lq] (writing at slots); output {@value #LOGITS} FP32 [B, k, V];</li>
 *   <li>{@value #OP_FORK}, {@value #OP_TRUNCATE}, {@value #OP_COMPACT}, {@value #OP_SELECT_ROWS},
 *       {@value #OP_FREE}: the state operations, on sequence {@value #SEQUENCE_ID}.</li>
 * </ul>
 * Sequences follow Triton's sequence batching: {@value #SEQUENCE_ID} (a client-chosen, unguessable id),
 * {@value #SEQUENCE_START} on the first forward (creating the state with that forward's batch size) and
 * {@value #SEQUENCE_END} on the last request (freeing it). A pending truncation travels as {@value #TRUNCATE_TO} on
 * the next request of the sequence, so speculative rollback costs no round trip of its own. An input that an
 * operation does not use is sent with no elements (a zero dimension), so a front end that wants every declared input
 * gets one.
 */
final class ForwardProtocol {
    /** The platform metadata names for a model served this way. */
    static final String PLATFORM = "arbor-forward";

    static final String OP = "arbor_op";
    static final String OP_DESCRIBE = "describe";
    static final String OP_FORWARD = "forward";
    static final String OP_FORK = "fork";
    static final String OP_TRUNCATE = "truncate";
    static final String OP_COMPACT = "compact";
    static final String OP_SELECT_ROWS = "select_rows";
    static final String OP_FREE = "free";

    static final String SEQUENCE_ID = "sequence_id";
    static final String SEQUENCE_START = "sequence_start";
    static final String SEQUENCE_END = "sequence_end";
    /** Fork: the id of the new sequence. */
    static final String FORK_ID = "fork_id";
    /** Truncate to this many slots before the operation. */
    static final String TRUNCATE_TO = "truncate_to";
    /** Truncate: the new length. */
    static final String LENGTH = "length";
    /** Compact (slots kept) and select_rows (source rows): comma-separated integers. */
    static final String INDICES = "indices";
    /** The state length after the operation (response). */
    static final String SEQUENCE_LENGTH = "sequence_length";

    static final String ATTENTION = "attention";
    static final String ATTENTION_CAUSAL = "causal";
    static final String ATTENTION_FULL = "full";
    static final String ATTENTION_SEGMENTS = "segments";
    static final String ATTENTION_EXPLICIT = "explicit";
    static final String STATE_WRITE = "state_write";
    static final String WRITE_APPEND = "append";
    static final String WRITE_NONE = "none";
    static final String WRITE_AT = "at";

    static final String STATE = "state";
    static final String STATE_SEQUENCE = "sequence";
    static final String STATE_NONE = "none";

    static final String INPUT_IDS = "input_ids";
    static final String POSITION_IDS = "position_ids";
    static final String LOGIT_ROWS = "logit_rows";
    static final String QUERY_SEGMENT = "query_segment";
    static final String KEY_SEGMENT = "key_segment";
    static final String VISIBLE = "visible";
    static final String TOKEN_VALID = "token_valid";
    static final String WRITE_SLOTS = "write_slots";
    static final String LOGITS = "logits";

    static final String INT64 = "INT64";
    static final String BOOL = "BOOL";
    static final String FP32 = "FP32";

    /** The inputs the served model declares, in the order every request carries them. */
    static final List<TensorSpec> INPUTS = List.of(
            new TensorSpec(INPUT_IDS, INT64, List.of(-1L, -1L)),
            new TensorSpec(POSITION_IDS, INT64, List.of(-1L, -1L)),
            new TensorSpec(LOGIT_ROWS, INT64, List.of(-1L, -1L)),
            new TensorSpec(QUERY_SEGMENT, INT64, List.of(-1L, -1L)),
            new TensorSpec(KEY_SEGMENT, INT64, List.of(-1L, -1L)),
            new TensorSpec(VISIBLE, BOOL, List.of(-1L, -1L, -1L)),
            new TensorSpec(TOKEN_VALID, BOOL, List.of(-1L, -1L)),
            new TensorSpec(WRITE_SLOTS, INT64, List.of(-1L)));

    /** The one output. */
    static final List<TensorSpec> OUTPUTS = List.of(new TensorSpec(LOGITS, FP32, List.of(-1L, -1L, -1L)));

    private ForwardProtocol() {
    }

    /** An input with no elements: an operation that does not use it. */
    static Tensor empty(TensorSpec spec) {
        List<Long> shape = spec.shape().stream().map(d -> 0L).toList();
        Object data = BOOL.equals(spec.datatype()) ? new boolean[0] : new long[0];
        return new Tensor(spec.name(), spec.datatype(), shape, data, Map.of());
    }

    /** A [rows][cols] INT64 tensor (cols taken from the first row; rows may not be ragged). */
    static Tensor int64(String name, int[][] values) {
        int rows = values.length;
        int cols = rows == 0 ? 0 : values[0].length;
        long[] data = new long[rows * cols];
        for (int r = 0; r < rows; r++) {
            if (values[r].length != cols) {
                throw new IllegalArgumentException(name + " row " + r + " has " + values[r].length
                        + " elements, row 0 has " + cols);
            }
            for (int c = 0; c < cols; c++) {
                data[r * cols + c] = values[r][c];
            }
        }
        return new Tensor(name, INT64, List.of((long) rows, (long) cols), data, Map.of());
    }

    /** The [rows][cols] integers of an INT64 (or INT32) tensor, checked to lie in [min, max]. */
    static int[][] ints2(Tensor t, long min, long max) throws WireException {
        if (t.shape().size() != 2) {
            throw new WireException(t.name() + " must have 2 dimensions, has shape " + t.shape());
        }
        int rows = dim(t, 0);
        int cols = dim(t, 1);
        long[] flat = longs(t);
        int[][] out = new int[rows][cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                long v = flat[r * cols + c];
                if (v < min || v > max) {
                    throw new WireException(t.name() + "[" + r + "][" + c + "] = " + v + " is outside [" + min
                            + ", " + max + "]");
                }
                out[r][c] = (int) v;
            }
        }
        return out;
    }

    /** The elements of an INT64 or INT32 tensor as longs, checked against its shape. */
    static long[] longs(Tensor t) throws WireException {
        long n = t.elementCount();
        long[] out;
        if (t.data() instanceof long[] l) {
            out = l;
        } else if (t.data() instanceof int[] i) {
            out = new long[i.length];
            for (int k = 0; k < i.length; k++) {
                out[k] = i[k];
            }
        } else {
            throw new WireException(t.name() + " must be INT64, is " + t.datatype());
        }
        if (out.length != n) {
            throw new WireException(t.name() + " holds " + out.length + " elements, its shape " + t.shape()
                    + " says " + n);
        }
        return out;
    }

    /** The elements of a BOOL tensor, checked against its shape. */
    static boolean[] bools(Tensor t) throws WireException {
        if (!(t.data() instanceof boolean[] b)) {
            throw new WireException(t.name() + " must be BOOL, is " + t.datatype());
        }
        if (b.length != t.elementCount()) {
            throw new WireException(t.name() + " holds " + b.length + " elements, its shape " + t.shape()
                    + " says " + t.elementCount());
        }
        return b;
    }

    /** Dimension {@code i} of {@code t}, checked to fit an int. */
    static int dim(Tensor t, int i) throws WireException {
        long d = t.shape().get(i);
        if (d < 0 || d > Integer.MAX_VALUE) {
            throw new WireException(t.name() + " has dimension " + i + " = " + d);
        }
        return (int) d;
    }

    /** Comma-separated integers (compact's slots, select_rows' rows). */
    static String joined(int[] values) {
        StringBuilder b = new StringBuilder();
        for (int v : values) {
            if (!b.isEmpty()) {
                b.append(',');
            }
            b.append(v);
        }
        return b.toString();
    }

    /** The integers of {@link #joined}, at most {@code maxCount}, each in [0, max). */
    static int[] split(Object text, int maxCount, int max, String what) throws WireException {
        if (!(text instanceof String s)) {
            throw new WireException(INDICES + " must be a string of comma-separated integers for " + what);
        }
        if (s.isEmpty()) {
            return new int[0];
        }
        String[] parts = s.split(",", -1);
        if (parts.length > maxCount) {
            throw new WireException(what + " lists " + parts.length + " indices, at most " + maxCount + " allowed");
        }
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                out[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new WireException(what + ": '" + clip(parts[i]) + "' is not an integer");
            }
            if (out[i] < 0 || out[i] >= max) {
                throw new WireException(what + ": index " + out[i] + " is outside [0, " + max + ")");
            }
        }
        return out;
    }

    /** A client-given text clipped for an error message. */
    static String clip(String s) {
        String c = s.length() > 40 ? s.substring(0, 40) + "..." : s;
        return c.replaceAll("[^A-Za-z0-9._:, /-]", "?");
    }

    /** A malformed request on the wire (the server answers INVALID; the client reports a protocol error). */
    static final class WireException extends Exception {
        private static final long serialVersionUID = 1L;

        WireException(String message) {
            super(message);
        }
    }
}
