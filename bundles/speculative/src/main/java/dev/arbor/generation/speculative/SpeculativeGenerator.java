package dev.arbor.generation.speculative;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.autoregressive.ModelOptions;
import dev.arbor.speculative.SpeculativeDecoding;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Draft-model speculative sampling: Leviathan, Kalman and Matias 2023, "Fast Inference from Transformers via
 * Speculative Decoding" (arXiv:2211.17192), and Chen, Borgeaud, Irving, Lespiau, Sifre and Jumper 2023,
 * "Accelerating Large Language Model Decoding with Speculative Sampling" (arXiv:2302.01318). A draft model proposes
 * {@code lookahead} tokens autoregressively ({@link ModelDrafter}), the target scores them in one forward and
 * {@link SpeculativeDecoding} accepts or rejects them so that the output has exactly the target's distribution
 * (with the request's processor chain applied identically to draft and target rows); greedy decoding gives plain
 * greedy's output token for token.
 *
 * <p><b>Options</b> (exactly one of {@code draft} and {@code draft_layers}):
 * <ul>
 *   <li>{@code draft}: the name of a model in the installation's model registry ({@code "draft": "NAME"} or
 *       {@code {"model": "NAME"}}), resolved by {@link ModelResolver#reference} and opened through
 *       {@link ModelResolver#open} (shared with other requests); an operator's pipeline file may instead give a full
 *       reference {@code {"backend", "format", "path", "options"}}. Its vocabulary must be the target's.</li>
 *   <li>{@code draft_layers}: N &gt;= 1, the self-speculative layer-skip draft: the target's own model reference
 *       ({@link ModelResolver#target()}) with backend option {@code keep_layers=N}, i.e. the target's first N
 *       layers with its embedding, final norm and output head (format {@code llama2c} converts such a model), so any
 *       llama2.c model gets a draft for free. N must be below the target's own {@code keep_layers} when it has
 *       one.</li>
 *   <li>{@code lookahead}: tokens drafted per step (the paper's gamma), 1..64, default 4.</li>
 *   <li>{@code max_new_tokens}: caps the request's limit.</li>
 * </ul>
 *
 * <p>Requires {@link Trait#NEEDS_STATE_TRUNCATE} (KV rollback on the target and the draft). Processors with trait
 * {@link Trait#USES_RANDOMNESS} (and not {@link Trait#SPECULATIVE_SAFE}) are refused, see
 * {@link SpeculativeDecoding#processorRefusal}. Stats: see {@link SpeculativeDecoding}.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=speculative",
        PartProperties.DESCRIPTION + "=Speculative sampling with a draft model or the target's first N layers "
                + "(draft, draft_layers, lookahead); exact target distribution, greedy equals plain greedy"})
public final class SpeculativeGenerator implements Generator {
    static final int DEFAULT_LOOKAHEAD = 4;

    @Override
    public Set<String> modelOptions() {
        return Set.of(ModelOptions.DRAFT);
    }

    @Override
    public Set<Trait> requirements() {
        return Set.of(Trait.NEEDS_STATE_TRUNCATE);
    }

    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return SpeculativeDecoding.processorRefusal(processorTraits);
    }

    /** See {@link SpeculativeDecoding#COMMITS_IN_ORDER}. */
    @Override
    public boolean commitsInOrder() {
        return SpeculativeDecoding.COMMITS_IN_ORDER;
    }

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        Options options = context.options();
        int lookahead = SpeculativeDecoding.lookahead(options, DEFAULT_LOOKAHEAD);
        ModelOptions.DraftChoice choice = ModelOptions.draft(options, context.models(), "speculative decoding");
        ModelBackend draft = context.models().open(draftRef(choice, context.models()));
        checkDraft(draft.card(), context.model().card(), choice.description());
        return SpeculativeDecoding.decode(context, sink, new ModelDrafter(draft, choice.description()), lookahead);
    }

    /**
     * The draft's model reference; a layer-skip draft is made with the llama2c format's {@code keep_layers} option,
     * so a target of another format is refused here.
     */
    static ModelRef draftRef(ModelOptions.DraftChoice choice, ModelResolver models) {
        ModelRef target = models.target();
        if (choice.layerSkip() && target != null && !"llama2c".equals(target.format().toLowerCase(Locale.ROOT))) {
            throw ArborException.invalid("option '" + ModelOptions.DRAFT_LAYERS + "' makes a layer-skip draft with "
                    + "the llama2c format's 'keep_layers' option, but the target model has format '"
                    + target.format() + "'; give option '" + ModelOptions.DRAFT + "' naming a draft model of the "
                    + "registry instead");
        }
        return choice.resolve(models);
    }

    /** Refuses a draft that cannot be verified against this target. */
    static void checkDraft(ModelCard draft, ModelCard target, String description) {
        if (draft.vocabSize() != target.vocabSize()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, description + " ('" + draft.name()
                    + "') has a vocabulary of " + draft.vocabSize() + " ids but the target '" + target.name()
                    + "' has " + target.vocabSize() + "; speculative sampling compares draft and target "
                    + "distributions over one vocabulary, so the draft must share the target's tokenizer");
        }
        if (!draft.supports(Capability.STATE_TRUNCATE)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, description + " ('" + draft.name()
                    + "') runs on a backend without DecodeState.truncate (Capability.STATE_TRUNCATE), which the "
                    + "draft's KV rollback after a rejection needs");
        }
    }
}
