package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CostLimitsTest {
    private final CostLimits defaults = CostLimits.from(name -> null);

    @Test
    void tooManyBeamsAreRefusedNamingTheSetting() {
        assertThatThrownBy(() -> defaults.check(Options.of(Map.of("num_beams", 1024)), 16, false))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("num_beams is 1024").hasMessageContaining("arbor.limits.num_beams")
                .hasMessageContaining("--max-beams");
    }

    @Test
    void beamsTimesTokensIsBounded() {
        assertThatCode(() -> defaults.check(Options.of(Map.of("num_beams", 16)), 1024, false))
                .doesNotThrowAnyException();
        assertThatThrownBy(() -> defaults.check(Options.of(Map.of("num_beams", 16)), 2048, false))
                .hasMessageContaining("num_beams x max_tokens (16 x 2048)").hasMessageContaining("beam_tokens");
    }

    @Test
    void draftsPerStepAndTreeSizeAreBounded() {
        for (String key : new String[] {"lookahead", "max_nodes", "verify_batch_size", "window"}) {
            assertThatThrownBy(() -> defaults.check(Options.of(Map.of(key, 65)), 16, false))
                    .hasMessageContaining(key + " is 65").hasMessageContaining("arbor.limits.draft_tokens");
        }
        assertThatCode(() -> defaults.check(Options.of(Map.of("lookahead", 64)), 16, false))
                .doesNotThrowAnyException();
    }

    @Test
    void aDiffusionCanvasIsBoundedByLengthTimesSteps() {
        assertThatThrownBy(() -> defaults.check(Options.of(Map.of("steps", 100_000)), 256, true))
                .hasMessageContaining("max_tokens x steps (256 x 100000)").hasMessageContaining("canvas_work");
        // steps default to the length
        assertThatThrownBy(() -> defaults.check(Options.empty(), 4096, true)).hasMessageContaining("canvas_work");
        assertThatCode(() -> defaults.check(Options.empty(), 4096, false)).doesNotThrowAnyException();
        assertThatCode(() -> defaults.check(Options.empty(), 512, true)).doesNotThrowAnyException();
    }

    @Test
    void theOperatorRaisesOrLowersALimit() {
        CostLimits raised = CostLimits.from(Map.of("arbor.limits.num_beams", "64",
                "arbor.limits.beam_tokens", "1000000")::get);
        assertThatCode(() -> raised.check(Options.of(Map.of("num_beams", 64)), 16, false))
                .doesNotThrowAnyException();
        CostLimits lowered = CostLimits.from(Map.of("arbor.limits.num_beams", "2")::get);
        assertThatThrownBy(() -> lowered.check(Options.of(Map.of("num_beams", 4)), 16, false))
                .hasMessageContaining("limit of 2");
    }
}
