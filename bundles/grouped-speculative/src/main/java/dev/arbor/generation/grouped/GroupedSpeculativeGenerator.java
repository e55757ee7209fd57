package dev.arbor.generation.grouped;

import dev.arbor.api.ArborException;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.jacobi.JacobiDecoder;
import java.util.Objects;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Part {@code grouped-speculative}: Grouped Speculative Decoding (GSD, So et al. 2025), which the reference README
 * calls "heavily based on" SJD: the same Jacobi loop ({@link JacobiDecoder}, options {@code window}, {@code init} /
 * {@code draft_init}, {@code use_cache}, {@code max_new_tokens}, classifier-free guidance rows with
 * {@code guidance_scale} as the paper runs Lumina-mGPT, image requests, stats {@code speculative.*} and
 * {@code cfg.*}) with the grouped acceptance ratio of {@link GroupedRatioRule}, computed on the combined (guided)
 * processed rows (options {@code neighbours_below} = 7, {@code neighbours_above} = 6, {@code p_thr} = 0.15,
 * {@code d_thr} = 0.5, the reference's values; extra stats {@code grouped.*}).
 *
 * <p>Needs the model's input-embedding matrix through {@link ModelBackend#extension}({@link EmbeddingAccess}); a
 * backend without it is refused before any forward with a message naming the backend and the alternatives.
 * GSD is lossy by design when sampling (it accepts near tokens); under greedy selection p is one-hot, no other token
 * can join the draft's group, and the output equals plain greedy decoding.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=grouped-speculative",
        PartProperties.DESCRIPTION + "=Grouped speculative Jacobi decoding (GSD): SJD accepting groups of tokens "
                + "near in embedding space; lossy, faster (needs the model's embedding matrix)"})
public final class GroupedSpeculativeGenerator implements Generator {

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        JacobiDecoder.Settings settings = JacobiDecoder.Settings.of(context.options());
        GroupedRatioRule.Config config = GroupedRatioRule.Config.of(context.options());
        ModelBackend model = context.model();
        EmbeddingAccess embeddings = model.extension(EmbeddingAccess.class).orElseThrow(() -> new ArborException(
                ArborException.Kind.INCOMPATIBLE, "generator 'grouped-speculative' (GSD) groups tokens that are near "
                + "in input-embedding space and so needs the model's embedding matrix (EmbeddingAccess, "
                + Capability.EMBEDDING_MATRIX + "), but the backend of model '" + model.card().name()
                + "' does not offer it; use a llama2.c checkpoint (format "
                + "llama2c) on the onnxruntime backend, which offers it, or generator 'jacobi' (SJD), which needs no "
                + "embeddings"));
        if (embeddings.embeddingSize() <= 0) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the embedding access of model '"
                    + model.card().name() + "' declares embeddings of " + embeddings.embeddingSize() + " values");
        }
        return JacobiDecoder.generate(context, sink, new GroupedRatioRule(embeddings, config, model.card().name()),
                settings);
    }

    @Override
    public Set<Trait> requirements() {
        return Set.of(Trait.NEEDS_STATE_TRUNCATE);
    }

    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return JacobiDecoder.processorIncompatibility(processorTraits);
    }
}
