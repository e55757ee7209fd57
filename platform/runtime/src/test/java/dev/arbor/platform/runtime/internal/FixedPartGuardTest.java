package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import java.util.Set;
import org.junit.jupiter.api.Test;

class FixedPartGuardTest {
    static final LogitsProcessor WATERMARK = new LogitsProcessor() {
        @Override
        public void process(float[] logits, SamplingContext context) {
            logits[0] += 2;
        }

        @Override
        public Set<Trait> traits() {
            return Set.of(Trait.WATERMARK);
        }
    };

    @Test
    void aGeneratorThatNeverRanTheWatermarkCannotCommit() {
        FixedPartGuard guard = new FixedPartGuard();
        LogitsProcessor watched = guard.watch(WATERMARK);
        float[] row = new float[4];
        watched.process(row, SamplingContext.seeded(new int[] {1}, 4, 0L)); // the runtime's warm-up
        guard.reset();
        assertThatThrownBy(() -> guard.checkCommit("ignores-processors", "wm"))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("'ignores-processors'").hasMessageContaining("'wm'");
        assertThat(watched.traits()).containsExactly(Trait.WATERMARK);
    }

    @Test
    void aGeneratorThatRanItCommitsAndAChainWithoutFixedPartsIsNotChecked() {
        FixedPartGuard guard = new FixedPartGuard();
        LogitsProcessor watched = guard.watch(WATERMARK);
        guard.reset();
        float[] row = new float[4];
        watched.process(row, SamplingContext.seeded(new int[] {1}, 4, 0L));
        assertThat(row[0]).isEqualTo(2f);
        assertThatCode(() -> guard.checkCommit("autoregressive", "wm")).doesNotThrowAnyException();
        assertThatCode(() -> new FixedPartGuard().checkCommit("anything", "plain")).doesNotThrowAnyException();
    }
}
