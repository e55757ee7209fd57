package dev.arbor.backend.support;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.ModelCard;

/**
 * The shape checks every backend runs on a forward request's inputs, with the messages users see, so ONNX Runtime
 * and DJL refuse the same requests the same way.
 */
public final class RequestChecks {
    private RequestChecks() {
    }

    /** Every row holds {@code lq} token ids inside {@code card}'s vocabulary. */
    public static void tokens(int[][] tokens, int batch, int lq, ModelCard card) {
        for (int b = 0; b < batch; b++) {
            if (tokens[b] == null || tokens[b].length != lq) {
                throw ArborException.invalid("all rows of a forward request need the same number of tokens: row 0 has "
                        + lq + ", row " + b + " has " + (tokens[b] == null ? "none" : tokens[b].length)
                        + " (left-pad shorter rows)");
            }
            for (int t : tokens[b]) {
                if (t < 0 || t >= card.vocabSize()) {
                    throw ArborException.invalid("token id " + t + " in row " + b + " is outside the vocabulary [0, "
                            + card.vocabSize() + ") of '" + card.name() + "'");
                }
            }
        }
    }

    /**
     * Every row holds {@code lq} input embeddings of {@code width} values; {@code input} names the model's input in
     * messages (e.g. {@code inputs_embeds}).
     */
    public static void embeddings(float[][][] embeds, int batch, int lq, int width, ModelCard card, String input) {
        for (int b = 0; b < batch; b++) {
            if (embeds[b] == null || embeds[b].length != lq) {
                throw ArborException.invalid("all rows of a forward request need the same number of input "
                        + "embeddings: row 0 has " + lq + ", row " + b + " has "
                        + (embeds[b] == null ? "none" : embeds[b].length) + " (left-pad shorter rows)");
            }
            for (int j = 0; j < lq; j++) {
                float[] e = embeds[b][j];
                if (e == null || e.length != width) {
                    throw ArborException.invalid("input embedding [" + b + "][" + j + "] has "
                            + (e == null ? "no values" : "width " + e.length) + " but model '" + card.name()
                            + "' takes " + input + " of width " + width + " (its hidden size)");
                }
            }
        }
    }
}
