package dev.arbor.processor.structured.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * One request's structured-output processor: sets -inf on every token the constraint does not allow after the
 * generated tokens of the context it is given.
 *
 * <p>It keeps the recognizer states along the histories it has seen (a few "tracks"); each call finds the track
 * with the longest common prefix with the context's generated tokens, keeps that prefix's states and advances from
 * there, so speculative rollback (a truncated history), beams that are reordered, and several rows of one request
 * all get exactly the masks a fresh processor would give. A generated token the constraint rejects (possible only
 * when something else chose it) fails with an {@link ArborException} naming the token and its position.
 *
 * <p>Budget forcing: with {@code max_tokens} known and R tokens left, a token is allowed only if the shortest
 * completion after it needs at most R-1 bytes; when no allowed token meets that, the tokens with the shortest
 * completion are kept. Since every byte on a shortest completion moves one byte closer to acceptance, and every
 * byte is a token in byte-level and byte-fallback vocabularies (GPT-2, Llama; llama2.c's every printable byte), an
 * output whose shortest completion fits when forcing starts is complete when the budget ends. In a vocabulary
 * without single-byte tokens for the bytes a completion needs, forcing still steers to the shortest completions but
 * cannot promise to finish. Where the budget is not given, nothing is forced: an output cut by the generator's own
 * limit may be incomplete.
 *
 * <p>End tokens: the tokenizer's end-of-sequence id and the request's stop ids (option {@code end_token_ids}: a
 * model's end id may differ from its tokenizer's, and chat models end turns with their own ids) are allowed exactly
 * where the output is complete, whatever bytes the tokenizer gives them, since a committed stop id ends the output
 * and adds no text. After an end token only end tokens are allowed: strategies that draft past one (tree drafts)
 * ask about such positions, which are never committed.
 */
final class StructuredProcessor implements LogitsProcessor {
    /** Histories kept at once (beams, rows, rollback points); the least recently used is dropped beyond this. */
    static final int MAX_TRACKS = 16;

    private final Constraint constraint;
    private final int maxTokens;
    /** Ascending ids that end the output. */
    private final int[] endTokens;
    private final String what;
    private final List<Track> tracks = new ArrayList<>();
    private long clock;

    /** A seen history: its generated tokens and the state before each and after the last. */
    private static final class Track {
        int[] tokens = new int[16];
        State[] states = new State[17];
        int length;
        /** Index of the first end token among the tokens, or -1. */
        int ended = -1;
        long used;
    }

    StructuredProcessor(Constraint constraint, int maxTokens, String what) {
        this(constraint, maxTokens, new int[] {constraint.vocabulary.eos}, what);
    }

    StructuredProcessor(Constraint constraint, int maxTokens, int[] endTokens, String what) {
        this.constraint = constraint;
        this.maxTokens = maxTokens;
        this.endTokens = endTokens.clone();
        this.what = what;
    }

    @Override
    public synchronized void process(float[] logits, SamplingContext context) {
        Track track = trackOf(context);
        State state = track.states[context.generatedLength()];
        if (track.ended >= 0) {
            keepOnly(logits, endTokens);
            return;
        }
        float[] ends = new float[endTokens.length];
        for (int i = 0; i < endTokens.length; i++) {
            ends[i] = endTokens[i] < logits.length ? logits[endTokens[i]] : Float.NEGATIVE_INFINITY;
        }
        applyMask(logits, context, state);
        // end ids are allowed exactly where the output is complete, whatever bytes the tokenizer gives them
        for (int i = 0; i < endTokens.length; i++) {
            if (endTokens[i] < logits.length) {
                logits[endTokens[i]] = state.accepts ? ends[i] : Float.NEGATIVE_INFINITY;
            }
        }
    }

    private static void keepOnly(float[] logits, int[] ids) {
        float[] kept = new float[ids.length];
        for (int i = 0; i < ids.length; i++) {
            kept[i] = ids[i] < logits.length ? logits[ids[i]] : Float.NEGATIVE_INFINITY;
        }
        Arrays.fill(logits, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < logits.length) {
                logits[ids[i]] = kept[i];
            }
        }
    }

    private void applyMask(float[] logits, SamplingContext context, State state) {
        Mask mask = constraint.mask(state);
        if (mask.count() == 0) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "structured-output: no token of the"
                    + " vocabulary can continue the output after " + context.generatedLength() + " tokens (the "
                    + what + " needs a byte that this tokenizer cannot produce)");
        }
        int limit = maxTokens < 0 ? Integer.MAX_VALUE : maxTokens - context.generatedLength() - 1;
        boolean forcing = limit >= 0 && mask.maxDist() > limit;
        int threshold = Math.max(limit, mask.minDist());
        apply(logits, mask, forcing, threshold, constraint.vocabulary.size);
    }

    static void apply(float[] logits, Mask mask, boolean forcing, int threshold, int vocabSize) {
        long[] allowed = mask.allowed();
        char[] dist = mask.distance();
        int n = Math.min(logits.length, vocabSize);
        if (!forcing && mask.count() < n / 8) {
            applySparse(logits, allowed, n);
            return;
        }
        int rank = 0;
        for (int w = 0; w < allowed.length; w++) {
            long bits = allowed[w];
            int base = w << 6;
            int end = Math.min(base + 64, n);
            if (base >= end) {
                break;
            }
            if (bits == 0) {
                java.util.Arrays.fill(logits, base, end, Float.NEGATIVE_INFINITY);
                continue;
            }
            if (!forcing) {
                // only the disallowed ids are touched: one trailing-zero count per id
                long off = ~bits;
                if (end - base < 64) {
                    off &= (1L << (end - base)) - 1;
                }
                while (off != 0) {
                    logits[base + Long.numberOfTrailingZeros(off)] = Float.NEGATIVE_INFINITY;
                    off &= off - 1;
                }
                continue;
            }
            for (int id = base; id < end; id++) {
                if ((bits & (1L << (id - base))) == 0 || dist[rank++] > threshold) {
                    logits[id] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        for (int id = n; id < logits.length; id++) {
            logits[id] = Float.NEGATIVE_INFINITY; // padding rows beyond the vocabulary
        }
    }

    /** Few allowed tokens: keep their logits, fill the row with -inf, put them back. */
    private static void applySparse(float[] logits, long[] allowed, int n) {
        int count = 0;
        for (long w : allowed) {
            count += Long.bitCount(w);
        }
        int[] ids = new int[count];
        float[] kept = new float[count];
        int k = 0;
        for (int w = 0; w < allowed.length; w++) {
            long bits = allowed[w];
            while (bits != 0) {
                int id = (w << 6) + Long.numberOfTrailingZeros(bits);
                bits &= bits - 1;
                if (id < n) {
                    ids[k] = id;
                    kept[k++] = logits[id];
                }
            }
        }
        java.util.Arrays.fill(logits, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < k; i++) {
            logits[ids[i]] = kept[i];
        }
    }

    /** The state after the context's generated tokens, reusing the longest matching seen history. */
    State stateAfter(SamplingContext context) {
        return trackOf(context).states[context.generatedLength()];
    }

    private boolean isEnd(int token) {
        return Arrays.binarySearch(endTokens, token) >= 0;
    }

    /** The track holding the context's generated tokens, advanced to their end. */
    private Track trackOf(SamplingContext context) {
        int prompt = context.promptLength();
        int n = context.generatedLength();
        Track best = null;
        int bestCommon = -1;
        for (Track t : tracks) {
            int common = 0;
            int max = Math.min(t.length, n);
            while (common < max && t.tokens[common] == context.token(prompt + common)) {
                common++;
            }
            if (common > bestCommon) {
                best = t;
                bestCommon = common;
            }
        }
        Track track;
        if (best == null) {
            track = newTrack();
            track.states[0] = constraint.initial();
        } else if (bestCommon < best.length) {
            // a different continuation of a seen prefix: keep the seen history for the row it belongs to
            track = newTrack();
            track.tokens = Arrays.copyOf(best.tokens, Math.max(16, bestCommon * 2));
            track.states = Arrays.copyOf(best.states, track.tokens.length + 1);
            track.length = bestCommon;
            track.ended = best.ended >= 0 && best.ended < bestCommon ? best.ended : -1;
        } else {
            track = best;
        }
        track.used = ++clock;
        for (int i = track.length; i < n; i++) {
            int token = context.token(prompt + i);
            State next;
            if (track.ended >= 0) {
                next = track.states[i]; // past an end: never committed, nothing more to check
            } else if (isEnd(token)) {
                next = track.states[i].accepts ? track.states[i] : null;
                if (next != null) {
                    track.ended = i;
                }
            } else {
                next = constraint.advance(track.states[i], token);
            }
            if (next == null) {
                track.length = i;
                throw ArborException.invalid("structured-output: generated token " + token + " at position " + i
                        + " of the output is not allowed by the " + what + " (the output so far cannot continue"
                        + " with it); the processor must see every position the generator commits");
            }
            if (i + 1 >= track.tokens.length) {
                track.tokens = Arrays.copyOf(track.tokens, track.tokens.length * 2);
                track.states = Arrays.copyOf(track.states, track.tokens.length + 1);
            }
            track.tokens[i] = token;
            track.states[i + 1] = next;
            track.length = i + 1;
        }
        return track;
    }

    private Track newTrack() {
        if (tracks.size() >= MAX_TRACKS) {
            Track oldest = tracks.get(0);
            for (Track t : tracks) {
                if (t.used < oldest.used) {
                    oldest = t;
                }
            }
            tracks.remove(oldest);
        }
        Track t = new Track();
        tracks.add(t);
        return t;
    }

    @Override
    public Set<Trait> traits() {
        return Constraints.TRAITS;
    }
}
