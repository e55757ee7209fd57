package dev.arbor.sampling.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Part {@code logit-bias}; option {@code logit_bias}: an object from token id (a JSON string key such as
 * {@code "50256"}, or an integer key from Java callers) to a bias in [-100, 100]. Empty or absent = off.
 * Keys must be non-negative integers; ids past the vocabulary are refused at the first row (see
 * {@link LogitBiasProcessor}).
 */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=logit-bias",
    PartProperties.DESCRIPTION + "=Adds option 'logit_bias' (token id -> bias in [-100, 100]) to the logits (OpenAI logit_bias)"})
public final class LogitBiasFactory implements LogitsProcessorFactory {
    static final String LOGIT_BIAS = "logit_bias";
    static final double MAX_BIAS = 100;

    @Override
    public LogitsProcessor create(Options options) {
        Map<?, ?> table = options.map(LOGIT_BIAS);
        if (table.isEmpty()) {
            return new IdentityProcessor(traits());
        }
        int[] ids = new int[table.size()];
        double[] biases = new double[table.size()];
        Set<Integer> seen = new HashSet<>();
        int n = 0;
        for (Map.Entry<?, ?> e : table.entrySet()) {
            int id = tokenId(e.getKey());
            if (!seen.add(id)) {
                throw ArborException.invalid("option '" + LOGIT_BIAS + "' lists token " + id + " more than once");
            }
            // Reuse Options' range check so the message has the same shape as every other option's.
            String entryKey = LOGIT_BIAS + "[" + e.getKey() + "]";
            Object value = e.getValue();
            if (value == null) {
                throw ArborException.invalid("option '" + entryKey + "' must be a number between -100 and 100, got null");
            }
            ids[n] = id;
            biases[n] = Options.of(Map.of(entryKey, value)).number(entryKey, 0, -MAX_BIAS, MAX_BIAS);
            n++;
        }
        return new LogitBiasProcessor(ids, biases);
    }

    private static int tokenId(Object key) {
        long id;
        if (key instanceof Integer || key instanceof Long || key instanceof Short) {
            id = ((Number) key).longValue();
        } else {
            try {
                id = Long.parseLong(String.valueOf(key).trim());
            } catch (NumberFormatException ex) {
                throw ArborException.invalid("option '" + LOGIT_BIAS + "' keys must be token ids (integers), got '"
                        + key + "'");
            }
        }
        if (id < 0 || id > Integer.MAX_VALUE) {
            throw ArborException.invalid("option '" + LOGIT_BIAS + "' keys must be token ids >= 0, got " + key);
        }
        return (int) id;
    }

    @Override
    public Set<Trait> traits() {
        return Traits.ROW_FUNCTION;
    }
}
