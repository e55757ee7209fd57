package dev.arbor.models.llama2c;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import org.junit.jupiter.api.Test;

/** Options graph/precision select the converted graph; bad values are named with the allowed ones. */
class Llama2cPrecisionTest {

    @Test
    void defaultsAndImpliedGraph() {
        assertThat(Llama2cPrecision.of(null, null)).isEqualTo(Llama2cPrecision.REFERENCE_FP32);
        assertThat(Llama2cPrecision.of(" ", "FP32")).isEqualTo(Llama2cPrecision.REFERENCE_FP32);
        assertThat(Llama2cPrecision.of("fused", null)).isEqualTo(Llama2cPrecision.FUSED_FP32);
        assertThat(Llama2cPrecision.of(null, "int8")).isEqualTo(Llama2cPrecision.FUSED_INT8);
        assertThat(Llama2cPrecision.of("fused", "int4")).isEqualTo(Llama2cPrecision.FUSED_INT4);
        assertThat(Llama2cPrecision.FUSED_INT4.bits()).isEqualTo(4);
        assertThat(Llama2cPrecision.REFERENCE_FP32.fused()).isFalse();
    }

    @Test
    void badValuesNameWhatIsAllowed() {
        assertThatThrownBy(() -> Llama2cPrecision.of(null, "fp16")).isInstanceOf(ArborException.class)
                .hasMessageContaining("precision='fp16'").hasMessageContaining("fp32, int8, int4");
        assertThatThrownBy(() -> Llama2cPrecision.of("fast", null)).isInstanceOf(ArborException.class)
                .hasMessageContaining("graph='fast'").hasMessageContaining("reference, fused");
        assertThatThrownBy(() -> Llama2cPrecision.of("reference", "int4")).isInstanceOf(ArborException.class)
                .hasMessageContaining("graph=reference supports only precision=fp32");
    }
}
