package dev.arbor.generation.autoregressive;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * How beam search keeps the backend state of its beams; one of three strategies, chosen from the card:
 * <ul>
 *   <li>{@link Batched} (cache, {@link Capability#BATCH} and {@link Capability#STATE_SELECT_ROWS}): all beams are
 *       rows of one {@link DecodeState}; reordering is one {@code selectRows} (HF's {@code _reorder_cache}); one
 *       forward per step. Also used for {@code num_beams = 1}, which never reorders.</li>
 *   <li>{@link Forked} (cache and {@link Capability#STATE_FORK} only): one single-row state per beam; a beam chosen
 *       by several successors is forked, an unchosen one closed; one forward per beam per step.</li>
 *   <li>{@link Stateless} ({@code use_cache=false}): every step recomputes prompt + beam tokens for every beam with
 *       no state (the reference path); batched when the backend allows it.</li>
 * </ul>
 * Every strategy starts with a single-row prefill: all beams share the prompt, so its logits serve every beam.
 */
abstract class BeamStates implements AutoCloseable {
    final ModelBackend model;
    final int numBeams;
    int forwards;
    long forwardTokens;

    BeamStates(ModelBackend model, int numBeams) {
        this.model = model;
        this.numBeams = numBeams;
    }

    /** Picks the strategy for this backend, or refuses with what to change. */
    static BeamStates choose(ModelBackend model, int numBeams, boolean useCache) {
        ModelCard card = model.card();
        if (!useCache) {
            return new Stateless(model, numBeams);
        }
        if (numBeams == 1 || (card.supports(Capability.BATCH) && card.supports(Capability.STATE_SELECT_ROWS))) {
            return new Batched(model, numBeams);
        }
        if (card.supports(Capability.STATE_FORK)) {
            return new Forked(model, numBeams);
        }
        throw new ArborException(ArborException.Kind.INCOMPATIBLE, "beam search with num_beams=" + numBeams
                + " needs a backend whose state supports selectRows (with batching) or fork, and " + card.name()
                + " supports neither; use num_beams=1, or use_cache=false to recompute every beam each step");
    }

    /** Processes the prompt; returns the next-token logits of every beam (one shared row). */
    abstract float[][] prefill(int[] prompt);

    /** Beam {@code i} now continues old beam {@code sources[i]}. */
    abstract void reorder(int[] sources);

    /**
     * Feeds each beam's newest token; {@code sequences[i]} is beam i's full history (prompt + generated), whose last
     * entry is that token. Returns the next-token logits of every beam.
     */
    abstract float[][] step(int[][] sequences);

    /** A short name for stats. */
    abstract String name();

    @Override
    public abstract void close();

    float[] forwardOne(ForwardRequest request, int row) {
        float[] logits = model.forward(request).last(row);
        forwards++;
        forwardTokens += (long) request.batchSize() * request.queryLength();
        return logits;
    }

    float[][] shared(float[] row) {
        float[][] out = new float[numBeams][];
        for (int i = 0; i < numBeams; i++) {
            out[i] = row;
        }
        return out;
    }

    static boolean isIdentity(int[] sources) {
        for (int i = 0; i < sources.length; i++) {
            if (sources[i] != i) {
                return false;
            }
        }
        return true;
    }

    /** All beams as rows of one state. */
    static final class Batched extends BeamStates {
        private DecodeState state;
        /** False until the single prefill row has been expanded to {@code numBeams} rows. */
        private boolean expanded;

        Batched(ModelBackend model, int numBeams) {
            super(model, numBeams);
        }

        @Override
        float[][] prefill(int[] prompt) {
            state = model.newState(1);
            return shared(forwardOne(ForwardRequest.builder(new int[][] {prompt}).state(state)
                    .write(StateWrite.APPEND).lastRowOnly().build(), 0));
        }

        @Override
        void reorder(int[] sources) {
            if (!expanded) {
                // Every beam still shares prefill row 0, whatever beam it came from.
                expanded = true;
                if (numBeams > 1) {
                    state.selectRows(new int[numBeams]);
                }
                return;
            }
            if (!isIdentity(sources)) {
                state.selectRows(sources.clone());
            }
        }

        @Override
        float[][] step(int[][] sequences) {
            int[][] last = new int[numBeams][1];
            for (int i = 0; i < numBeams; i++) {
                last[i][0] = sequences[i][sequences[i].length - 1];
            }
            ForwardRequest request = ForwardRequest.next(last, state);
            float[][][] logits = model.forward(request).logits();
            forwards++;
            forwardTokens += numBeams;
            float[][] out = new float[numBeams][];
            for (int i = 0; i < numBeams; i++) {
                out[i] = logits[i][logits[i].length - 1];
            }
            return out;
        }

        @Override
        String name() {
            return "batched";
        }

        @Override
        public void close() {
            if (state != null) {
                state.close();
            }
        }
    }

    /** One single-row state per beam, forked when a beam has several successors. */
    static final class Forked extends BeamStates {
        private DecodeState[] states;

        Forked(ModelBackend model, int numBeams) {
            super(model, numBeams);
        }

        @Override
        float[][] prefill(int[] prompt) {
            DecodeState first = model.newState(1);
            states = new DecodeState[numBeams];
            java.util.Arrays.fill(states, first);
            return shared(forwardOne(ForwardRequest.builder(new int[][] {prompt}).state(first)
                    .write(StateWrite.APPEND).lastRowOnly().build(), 0));
        }

        @Override
        void reorder(int[] sources) {
            DecodeState[] next = new DecodeState[numBeams];
            Set<DecodeState> claimed = Collections.newSetFromMap(new IdentityHashMap<>());
            try {
                for (int i = 0; i < numBeams; i++) {
                    DecodeState source = states[sources[i]];
                    // The first successor takes the state over; later ones get copies made before anyone appends.
                    next[i] = claimed.add(source) ? source : source.fork();
                }
            } catch (RuntimeException e) {
                closeAll(next, claimed);
                throw e;
            }
            for (DecodeState s : distinct(states)) {
                if (!claimed.contains(s)) {
                    s.close();
                }
            }
            states = next;
        }

        @Override
        float[][] step(int[][] sequences) {
            float[][] out = new float[numBeams][];
            for (int i = 0; i < numBeams; i++) {
                int[] seq = sequences[i];
                out[i] = forwardOne(ForwardRequest.next(new int[][] {{seq[seq.length - 1]}}, states[i]), 0);
            }
            return out;
        }

        @Override
        String name() {
            return "forked";
        }

        @Override
        public void close() {
            if (states != null) {
                for (DecodeState s : distinct(states)) {
                    s.close();
                }
            }
        }

        private static Set<DecodeState> distinct(DecodeState[] states) {
            Set<DecodeState> set = Collections.newSetFromMap(new IdentityHashMap<>());
            for (DecodeState s : states) {
                if (s != null) {
                    set.add(s);
                }
            }
            return set;
        }

        private static void closeAll(DecodeState[] partial, Set<DecodeState> claimed) {
            for (DecodeState s : partial) {
                if (s != null && !claimed.contains(s)) {
                    s.close(); // forks made before the failure; the claimed ones are still in `states`
                }
            }
        }
    }

    /** No state: every step is a full recompute of every beam (the reference path). */
    static final class Stateless extends BeamStates {
        private final boolean batch;

        Stateless(ModelBackend model, int numBeams) {
            super(model, numBeams);
            this.batch = model.card().supports(Capability.BATCH);
        }

        @Override
        float[][] prefill(int[] prompt) {
            return shared(forwardOne(ForwardRequest.builder(new int[][] {prompt}).lastRowOnly().build(), 0));
        }

        @Override
        void reorder(int[] sources) {
            // Nothing to move: the histories are the state.
        }

        @Override
        float[][] step(int[][] sequences) {
            float[][] out = new float[numBeams][];
            if (batch || numBeams == 1) {
                ForwardRequest request = ForwardRequest.builder(sequences).lastRowOnly().build();
                float[][][] logits = model.forward(request).logits();
                forwards++;
                forwardTokens += (long) numBeams * sequences[0].length;
                for (int i = 0; i < numBeams; i++) {
                    out[i] = logits[i][logits[i].length - 1];
                }
            } else {
                for (int i = 0; i < numBeams; i++) {
                    out[i] = forwardOne(ForwardRequest.builder(new int[][] {sequences[i]}).lastRowOnly().build(), 0);
                }
            }
            return out;
        }

        @Override
        String name() {
            return "stateless";
        }

        @Override
        public void close() {
        }
    }
}
