package dev.arbor.generation.vfprompt;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.ModelCard;

/**
 * The VF prompt of one request: {@code tokens} Vision Full-view tokens, each drawn from the ids
 * {@code [offset, offset + codes)}, generated after the class token and before the image's codes. Options:
 * {@code vf_tokens} (default {@value #DEFAULT_TOKENS}, 0 = plain raster decoding), {@code vf_offset} (default the
 * image layout's vocabulary size: the VF ids follow the layout's ids), {@code vf_codes} (default every id from the
 * offset to the end of the prior's vocabulary).
 *
 * @param tokens VF tokens per image (0: none)
 * @param offset the first VF id
 * @param codes  the number of VF ids
 */
public record VfPrompt(int tokens, int offset, int codes) {
    /** VF tokens of the forge's fashion-vf prior: scales 1 and 2 of the multi-scale VQ, 1 + 4 tokens. */
    public static final int DEFAULT_TOKENS = 5;

    /** True when {@code id} is one of the VF ids. */
    public boolean contains(int id) {
        return id >= offset && id < offset + codes;
    }

    /**
     * Reads and checks the options against the prior ({@code card}) and the image {@code layout}; every refusal names
     * the option, the value and what the prior accepts. {@code generator} names the caller in messages.
     */
    public static VfPrompt read(Options options, ModelCard card, ImageLayout layout, String generator) {
        int vocab = card.vocabSize();
        // positions fed: the class token, the VF tokens and the first N-1 codes (the last code is never fed back)
        int room = card.maxPositions() - layout.tokensPerImage();
        int tokens = options.integer("vf_tokens", DEFAULT_TOKENS, 0, Integer.MAX_VALUE);
        int offset = options.integer("vf_offset", layout.vocabSize(), 0, Integer.MAX_VALUE);
        if (room < 0) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + "'s context of "
                    + card.maxPositions() + " positions cannot hold the class token and an image of "
                    + layout.tokensPerImage() + " tokens (needs " + layout.tokensPerImage() + ")");
        }
        if (tokens == 0) {
            return new VfPrompt(0, offset, 0);
        }
        if (vocab <= layout.vocabSize()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, generator + ": " + card.name() + " has "
                    + vocab + " ids, no more than the image layout's " + layout.vocabSize() + ", so it has no VF ids "
                    + "(it was not trained with VF prompts); set vf_tokens 0 for plain raster decoding or use a "
                    + "VF-prompt prior such as fashion-vf");
        }
        if (tokens > room) {
            throw ArborException.invalid(generator + ": vf_tokens " + tokens + " does not fit " + card.name()
                    + "'s context of " + card.maxPositions() + " positions (the class token, the VF tokens and "
                    + layout.tokensPerImage() + " image tokens less the last); use at most " + room);
        }
        if (offset < layout.vocabSize() || offset >= vocab) {
            throw ArborException.invalid(generator + ": vf_offset " + offset + " must lie after the image layout's "
                    + layout.vocabSize() + " ids (codes, class, null-class, basis and level ids are never VF "
                    + "tokens) and inside " + card.name() + "'s vocabulary of " + vocab + ": use "
                    + layout.vocabSize() + "-" + (vocab - 1) + " (the prior's card names its VF offset)");
        }
        int codes = options.integer("vf_codes", vocab - offset, 1, Integer.MAX_VALUE);
        if (offset + codes > vocab) {
            throw ArborException.invalid(generator + ": vf_codes " + codes + " from vf_offset " + offset + " runs past "
                    + card.name() + "'s vocabulary of " + vocab + " ids; use at most " + (vocab - offset));
        }
        return new VfPrompt(tokens, offset, codes);
    }
}
