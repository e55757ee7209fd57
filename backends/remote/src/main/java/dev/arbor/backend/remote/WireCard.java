package dev.arbor.backend.remote;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A {@link ModelCard} as the response parameters of the {@code describe} operation: plain strings, numbers and
 * booleans, so any Open Inference Protocol front end carries it. Capabilities the wire does not carry (input
 * embeddings, hidden states, the embedding matrix) are never declared, so a strategy that needs one is refused at
 * configuration time naming it.
 */
final class WireCard {
    /** What one forward over the wire can express: every attention spec, every state operation, batches. */
    static final Set<Capability> CARRIED = Set.copyOf(EnumSet.of(Capability.FULL_ATTENTION,
            Capability.SEGMENT_MASK, Capability.EXPLICIT_MASK, Capability.PADDING, Capability.STATE_TRUNCATE,
            Capability.STATE_COMPACT, Capability.STATE_FORK, Capability.STATE_SELECT_ROWS,
            Capability.STATE_WRITE_AT, Capability.BATCH));
    /** What the stateless form offers: the client keeps token histories and replays them causally. */
    static final Set<Capability> STATELESS = Set.copyOf(EnumSet.of(Capability.STATE_TRUNCATE,
            Capability.STATE_COMPACT, Capability.STATE_FORK, Capability.STATE_SELECT_ROWS, Capability.BATCH));

    private WireCard() {
    }

    /** The parameters describing {@code card} (its capabilities cut to {@code offered}). */
    static Map<String, Object> encode(ModelCard card, Set<Capability> offered) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("name", card.name());
        p.put("vocab_size", (long) card.vocabSize());
        p.put("max_positions", (long) card.maxPositions());
        p.put("hidden_size", (long) card.hiddenSize());
        p.put("bos_token_id", (long) card.bosTokenId().orElse(-1));
        p.put("eos_token_ids", ForwardProtocol.joined(card.eosTokenIds()));
        p.put("pad_token_id", (long) card.padTokenId().orElse(-1));
        p.put("mask_token_id", (long) card.maskTokenId().orElse(-1));
        p.put("alignment", card.alignment().name());
        p.put("native_attention", card.nativeAttention().name());
        p.put("block_size", (long) card.blockSize());
        p.put("output_heads", (long) card.outputHeads());
        EnumSet<Capability> caps = EnumSet.noneOf(Capability.class);
        caps.addAll(card.capabilities());
        caps.retainAll(offered);
        p.put("capabilities", String.join(",", caps.stream().map(Enum::name).toList()));
        return p;
    }

    /**
     * The card the parameters describe, named {@code displayName}, with the capabilities {@code carried} by the
     * client's form; {@code source} (the URL) is named in errors.
     */
    static ModelCard decode(Map<String, Object> p, String displayName, Set<Capability> carried, String source) {
        int vocab = intParam(p, "vocab_size", 1, Integer.MAX_VALUE, source);
        int heads = intParam(p, "output_heads", 1, vocab, source);
        EnumSet<Capability> caps = EnumSet.noneOf(Capability.class);
        for (String name : text(p, "capabilities", source).split(",")) {
            if (name.isBlank()) {
                continue;
            }
            try {
                caps.add(Capability.valueOf(name.trim().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                // a newer server's capability this client does not know: it cannot be used, so it is not offered
            }
        }
        caps.retainAll(carried);
        ModelCard card = new ModelCard(displayName, vocab,
                intParam(p, "max_positions", 1, Integer.MAX_VALUE, source),
                intParam(p, "hidden_size", 0, Integer.MAX_VALUE, source),
                optionalId(p, "bos_token_id", vocab, source), ids(p, "eos_token_ids", vocab, source),
                optionalId(p, "pad_token_id", vocab, source), optionalId(p, "mask_token_id", vocab, source),
                enumParam(p, "alignment", LogitAlignment.class, source),
                enumParam(p, "native_attention", NativeAttention.class, source),
                intParam(p, "block_size", 0, Integer.MAX_VALUE, source), caps);
        return heads == 1 ? card : card.withHeads(heads, null);
    }

    private static String text(Map<String, Object> p, String key, String source) {
        Object v = p.get(key);
        if (v == null) {
            throw bad(source, "declares no '" + key + "'");
        }
        return v.toString();
    }

    private static int intParam(Map<String, Object> p, String key, int min, int max, String source) {
        Object v = p.get(key);
        long value;
        if (v instanceof Number n) {
            value = n.longValue();
        } else if (v instanceof String s) {
            try {
                value = Long.parseLong(s.trim());
            } catch (NumberFormatException e) {
                throw bad(source, "declares " + key + " = '" + ForwardProtocol.clip(s) + "', not an integer");
            }
        } else {
            throw bad(source, "declares no integer '" + key + "'");
        }
        if (value < min || value > max) {
            throw bad(source, "declares " + key + " = " + value + ", outside [" + min + ", " + max + "]");
        }
        return (int) value;
    }

    private static OptionalInt optionalId(Map<String, Object> p, String key, int vocab, String source) {
        int id = intParam(p, key, -1, vocab - 1, source);
        return id < 0 ? OptionalInt.empty() : OptionalInt.of(id);
    }

    private static int[] ids(Map<String, Object> p, String key, int vocab, String source) {
        try {
            return ForwardProtocol.split(text(p, key, source), 64, vocab, key);
        } catch (ForwardProtocol.WireException e) {
            throw bad(source, "declares bad " + key + ": " + e.getMessage());
        }
    }

    private static <E extends Enum<E>> E enumParam(Map<String, Object> p, String key, Class<E> type, String source) {
        String v = text(p, key, source);
        try {
            return Enum.valueOf(type, v.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw bad(source, "declares " + key + " = '" + ForwardProtocol.clip(v) + "'; known: "
                    + Arrays.toString(type.getEnumConstants()));
        }
    }

    private static ArborException bad(String source, String what) {
        return ArborException.badModel("the remote model at " + source + " " + what
                + " (is it an Arbor forward model, platform " + ForwardProtocol.PLATFORM + "?)", null);
    }
}
