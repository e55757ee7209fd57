package dev.arbor.processor.structured.internal;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Random sentences of a grammar, drawn byte by byte through the recognizer (test support). */
final class Walks {
    private Walks() {
    }

    /**
     * A random sentence: each step picks a uniformly random byte the grammar allows (or stops, with probability
     * {@code stop}, where the bytes so far are a sentence); after {@code soft} bytes only bytes that shorten the
     * remaining distance are taken, so the walk ends.
     */
    static byte[] sentence(Recognizer recognizer, Random random, int soft, double stop) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<Stack> paths = List.of(recognizer.initial().stacks);
        while (true) {
            State state = new State(paths);
            if (state.accepts && (state.isFinal() || random.nextDouble() < stop || (out.size() >= soft
                    && state.dist == 0))) {
                return out.toByteArray();
            }
            List<Integer> choices = new ArrayList<>();
            List<List<Stack>> nexts = new ArrayList<>();
            for (int b = 0; b < 256; b++) {
                List<Stack> next = recognizer.advance(paths, b);
                if (next.isEmpty()) {
                    continue;
                }
                if (out.size() >= soft && new State(next).dist >= state.dist) {
                    continue;
                }
                choices.add(b);
                nexts.add(next);
            }
            if (choices.isEmpty()) {
                throw new AssertionError("walk stuck after " + out.size() + " bytes: " + out);
            }
            int pick = random.nextInt(choices.size());
            out.write(choices.get(pick));
            paths = nexts.get(pick);
        }
    }
}
