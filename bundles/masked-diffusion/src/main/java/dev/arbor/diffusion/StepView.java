package dev.arbor.diffusion;

import java.util.random.RandomGenerator;

/**
 * Where a decoder stands when it asks a {@link RemaskingPolicy} to choose: the canvas, the current block
 * {@code [blockStart, blockEnd)}, the step within the block (0-based) out of {@code steps} (0 when the number of
 * steps is not fixed, as under threshold rules), the global step counter and the request RNG.
 */
public record StepView(Canvas canvas, int blockStart, int blockEnd, int step, int steps, int globalStep,
                       RandomGenerator random) {
}
