package dev.arbor.generation.cspd;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.LatentImageCodec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.imagegen.ImageRequest;

/**
 * One class-conditional continuous-latent image request, checked before any forward: an {@link ImageRequest} (image
 * tokenizer, vocabulary, one class token, {@code max_tokens} for the whole image's wire ids) whose tokenizer is a
 * {@link LatentImageCodec}, and the option {@value #TEMPERATURE}. Priors are checked by {@link #checkPrior}.
 *
 * @param image       the image request
 * @param codec       the pipeline's latent codec
 * @param temperature the noise scale of every draw: {@code x = μ + temperature·σ·ε}
 */
record LatentImageRequest(ImageRequest image, LatentImageCodec codec, double temperature) {
    /** Option: the noise scale τ of a draw {@code μ + τ·σ·ε} (MAR's sampling temperature), default 1. */
    static final String TEMPERATURE = "temperature";
    /** Largest accepted temperature. */
    static final double MAX_TEMPERATURE = 10.0;

    /** Latent tokens of one image. */
    int tokens() {
        return codec.latentTokens();
    }

    /** Values per latent token. */
    int dim() {
        return codec.latentDim();
    }

    ImageLayout layout() {
        return image.layout();
    }

    /** Checks {@code context} for {@code generator} (its name in messages). */
    static LatentImageRequest open(GenerationContext context, String generator) {
        ImageRequest image = ImageRequest.open(context, generator);
        if (!(image.tokenizer() instanceof LatentImageCodec codec)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, generator + " samples continuous latent "
                    + "tokens and needs the pipeline's tokenizer to be a latent codec (dev.arbor.api.image."
                    + "LatentImageCodec, tokenizer format image-latent), but it is "
                    + image.tokenizer().getClass().getName() + "; a VQ tokenizer's codes run with raster-ar");
        }
        if (codec.latentTokens() * codec.latentDim() != image.tokens()) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the latent codec's layout has "
                    + image.tokens() + " wire ids per image but " + codec.latentTokens() + " tokens of "
                    + codec.latentDim() + " values");
        }
        return new LatentImageRequest(image, codec, temperature(context.options()));
    }

    static double temperature(Options options) {
        double t = options.number(TEMPERATURE, 1.0, 0, MAX_TEMPERATURE);
        if (t == 0) {
            throw ArborException.invalid("option '" + TEMPERATURE + "' must be positive: a draw is μ + temperature·σ·ε "
                    + "from the Gaussian head; give a small value such as 0.1 to sample near the mean");
        }
        return t;
    }

    /**
     * The checks on a prior ({@code role}: "the target", "the draft") for this request: a GAUSSIAN continuous head
     * over the codec's latent width whose inputs are the layout's basis ids, alignment NEXT, causal attention, the
     * capabilities the loops use ({@code truncate}: also STATE_TRUNCATE), and a context for the class token and every
     * latent token but the last. Returns the backend's embedding access.
     */
    EmbeddingAccess checkPrior(ModelBackend model, String generator, String role, boolean truncate) {
        ModelCard card = model.card();
        ContinuousHead head = card.continuousHead();
        ImageLayout layout = layout();
        String who = role + " '" + card.name() + "'";
        if (head == null || head.kind() != ContinuousHead.Kind.GAUSSIAN) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, generator + " needs a prior with a GAUSSIAN "
                    + "continuous head (model card key continuous_head, e.g. GAUSSIAN:" + dim() + ":0:"
                    + layout.featureBasisToken(0) + ":-1:0), but " + who + " has "
                    + (head == null ? "none (a token-logits model)" : "a " + head.kind() + " head"));
        }
        if (head.dim() != dim() || head.basisOffset() != layout.featureBasisToken(0)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, who + "'s continuous head " + head.spec()
                    + " does not match the pipeline's latent codec (tokens of " + dim() + " values, basis ids from "
                    + layout.featureBasisToken(0) + "); the prior and the codec do not belong together");
        }
        if (card.alignment() != LogitAlignment.NEXT || card.nativeAttention() != NativeAttention.CAUSAL) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, generator + " needs a causal next-token prior "
                    + "(alignment NEXT, attention CAUSAL), but " + who + " is " + card.alignment() + " / "
                    + card.nativeAttention());
        }
        for (Capability needed : truncate
                ? new Capability[] {Capability.INPUT_EMBEDS, Capability.EMBEDDING_MATRIX, Capability.STATE_TRUNCATE}
                : new Capability[] {Capability.INPUT_EMBEDS, Capability.EMBEDDING_MATRIX}) {
            if (!card.supports(needed)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, generator + " needs Capability." + needed
                        + " (" + why(needed) + "), but the backend running " + who + " does not list it"
                        + (needed == Capability.INPUT_EMBEDS ? "; open a llama2c checkpoint with option "
                        + "input_embeds=true on ONNX Runtime, or use the DJL backend" : ""));
            }
        }
        if (card.maxPositions() < tokens()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, who + "'s context of " + card.maxPositions()
                    + " positions cannot hold the class token and " + (tokens() - 1) + " latent tokens (needs "
                    + tokens() + ")");
        }
        return model.extension(EmbeddingAccess.class).orElseThrow(() -> new ArborException(
                ArborException.Kind.PLUGIN_FAILURE, "the backend running " + who + " lists "
                + "Capability.EMBEDDING_MATRIX but offers no EmbeddingAccess extension"));
    }

    private static String why(Capability c) {
        return switch (c) {
            case INPUT_EMBEDS -> "latent tokens enter as embeddings Σ_j x_j·E[basis j]";
            case EMBEDDING_MATRIX -> "the class and basis rows of the input embeddings";
            default -> "rejected draft tokens are cut from the KV state";
        };
    }
}
