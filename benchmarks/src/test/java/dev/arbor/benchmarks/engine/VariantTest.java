package dev.arbor.benchmarks.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class VariantTest {
    @Test
    void parsesNamesOptionsAndTheGraphTheConverterPicks() {
        List<Variant> v = Variant.parseList("ref-t1:intra_op_threads=1, fused:graph=fused,int4-t2:precision=int4;"
                + "intra_op_threads=2,plain");
        assertThat(v).extracting(Variant::name).containsExactly("ref-t1", "fused", "int4-t2", "plain");
        assertThat(v.get(2).options()).isEqualTo(Map.of("precision", "int4", "intra_op_threads", "2"));
        assertThat(v).extracting(Variant::graph).containsExactly("reference", "fused", "fused", "reference");
        assertThat(v).extracting(Variant::precision).containsExactly("fp32", "fp32", "int4", "fp32");
        assertThat(v).extracting(Variant::threads).containsExactly(1, 0, 2, 0);
        assertThat(v.get(0).onReferenceGraph()).isTrue();
        assertThat(v.get(1).onReferenceGraph()).isFalse();
    }

    @Test
    void refusesWhatCannotBecomeAPipeline() {
        assertThatThrownBy(() -> Variant.parseList("Fused:graph=fused")).isInstanceOf(ArborException.class)
                .hasMessageContaining("'Fused'");
        assertThatThrownBy(() -> Variant.parseList("a:graph")).isInstanceOf(ArborException.class)
                .hasMessageContaining("'graph' is not key=value");
        assertThatThrownBy(() -> Variant.parseList(" , ")).isInstanceOf(ArborException.class)
                .hasMessageContaining("no variant");
    }
}
