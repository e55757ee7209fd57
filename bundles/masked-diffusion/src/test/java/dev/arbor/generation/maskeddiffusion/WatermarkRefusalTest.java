package dev.arbor.generation.maskeddiffusion;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Trait;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * A diffusion decoder commits tokens out of order, so a watermark seeded by the preceding tokens (the green list)
 * would be seeded wrongly and go undetected: the generator must refuse it instead of silently stripping it, while a
 * context-free watermark (LBW) and ordinary history-dependent processors (penalties) stay allowed.
 */
class WatermarkRefusalTest {
    static final Set<Trait> GREEN_LIST = Set.of(Trait.HISTORY_DEPENDENT, Trait.SPECULATIVE_SAFE, Trait.BATCH_SAFE,
            Trait.WATERMARK);

    @Test
    void aContextSeededWatermarkIsRefusedNamingWhy() {
        assertThat(new MaskedDiffusionGenerator().incompatibility(GREEN_LIST))
                .contains("out of order").contains("watermark");
    }

    @Test
    void contextFreeWatermarksAndPenaltiesStayAllowed() {
        MaskedDiffusionGenerator generator = new MaskedDiffusionGenerator();
        assertThat(generator.incompatibility(Set.of(Trait.USES_RANDOMNESS, Trait.SPECULATIVE_SAFE, Trait.WATERMARK)))
                .isNull();
        assertThat(generator.incompatibility(Set.of(Trait.HISTORY_DEPENDENT))).isNull();
    }
}
