package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A model as one request uses it: every call goes to the shared backend, and logits that are NaN or +infinity are
 * refused at once as a bad model (naming the model and the forward step) instead of reaching the sampling parts,
 * where the first selector or processor to read them would be blamed. {@code -infinity} stays allowed (a token a
 * model rules out). The scan reads each returned row once, which is small next to the forward pass that made it.
 */
final class LogitsCheckedModel implements ModelBackend {
    private final ModelBackend model;
    private final String pipeline;
    private final AtomicInteger steps = new AtomicInteger();

    LogitsCheckedModel(ModelBackend model, String pipeline) {
        this.model = model;
        this.pipeline = pipeline;
    }

    @Override
    public ModelCard card() {
        return model.card();
    }

    @Override
    public DecodeState newState(int batchSize) {
        return model.newState(batchSize);
    }

    /** Forwards, then checks every returned logit row; throws BAD_MODEL at the first non-finite value. */
    @Override
    public ForwardResult forward(ForwardRequest request) {
        ForwardResult result = model.forward(request);
        int step = steps.incrementAndGet();
        float[][][] logits = result == null ? null : result.logits();
        if (logits != null) {
            for (int b = 0; b < logits.length; b++) {
                for (int row = 0; row < logits[b].length; row++) {
                    check(logits[b][row], step, b, row);
                }
            }
        }
        return result;
    }

    private void check(float[] row, int step, int batchItem, int rowIndex) {
        if (row == null) {
            return;
        }
        for (int token = 0; token < row.length; token++) {
            float v = row[token];
            if (Float.isNaN(v) || v == Float.POSITIVE_INFINITY) {
                throw new ArborException(ArborException.Kind.BAD_MODEL, "model '" + model.card().name()
                        + "' of pipeline '" + pipeline + "' produced non-finite logits (" + (Float.isNaN(v) ? "NaN"
                        : "+Infinity") + " for token " + token + ", batch item " + batchItem + ", row " + rowIndex
                        + ") at forward step " + step + " of this request: its weights or inputs are broken;"
                        + " check the model file (a NaN weight, a diverged training run)");
            }
        }
    }

    @Override
    public <T> Optional<T> extension(Class<T> type) {
        return model.extension(type);
    }

    /** Closes the backend, as a caller of the undecorated backend would. */
    @Override
    public void close() {
        model.close();
    }

    @Override
    public String toString() {
        return model.toString();
    }
}
