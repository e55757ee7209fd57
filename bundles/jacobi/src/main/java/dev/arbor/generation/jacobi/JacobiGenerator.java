package dev.arbor.generation.jacobi;

import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.jacobi.JacobiDecoder;
import dev.arbor.jacobi.TokenRatioRule;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Part {@code jacobi}: Speculative Jacobi Decoding (SJD, Teng et al. 2024) with the exact token ratio
 * {@code p(x)/q(x)} ({@link TokenRatioRule}); the loop, its options ({@code window}, {@code init} /
 * {@code draft_init}, {@code use_cache}, {@code max_new_tokens}, {@code guidance_scale} and the other CFG options)
 * and its stats are documented on {@link JacobiDecoder}. With {@code guidance_scale} it runs conditional and
 * unconditional rows as the SJD paper does; on an image pipeline it generates one image of codes. Sampled output
 * follows the target's processed (guided) distribution exactly; greedy output equals plain (guided) greedy
 * decoding.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=jacobi",
        PartProperties.DESCRIPTION + "=Speculative Jacobi decoding (SJD): a window of drafts verified per forward, "
                + "exact (options window, init=random|repeat, guidance_scale for CFG rows; images: class prompt)"})
public final class JacobiGenerator implements Generator {

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        return JacobiDecoder.generate(context, sink);
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
