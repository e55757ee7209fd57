package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

class RequestChainTest {
    /** The parts that declare Trait.WATERMARK in this test's registry. */
    static final Predicate<String> WATERMARKS = name -> name.startsWith("watermark-");

    static final String JSON = """
            {
              "name": "wm",
              "model": {"backend": "onnxruntime", "format": "llama2c", "path": "/m.bin"},
              "tokenizer": {"format": "llama2c", "path": "/tok.bin"},
              "generator": "autoregressive",
              "processors": [
                {"name": "repetition-penalty", "fixed": true, "options": {"repetition_penalty": 1.1}},
                {"name": "watermark-greenlist", "options": {"hashing_key": "12345", "bias": 2.0}},
                "temperature", "top-k", "top-p"
              ],
              "defaults": {"temperature": 0.8},
              "overrides": {"processors": ["min-p"]}
            }
            """;

    static PipelineDefinition pipeline() {
        return PipelineJson.parse(JSON, "wm.json", "wm", n -> null);
    }

    static PartRef part(String name, Map<String, Object> options) {
        return new PartRef(name, Options.of(options));
    }

    @Test
    void withoutARequestChainThePipelinesOwnRuns() {
        PipelineDefinition d = pipeline();
        assertThat(RequestChain.of(d, null, WATERMARKS)).isSameAs(d.processors());
    }

    @Test
    void aChainThatLeavesOutTheWatermarkIsRefusedNamingIt() {
        assertThatThrownBy(() -> RequestChain.of(pipeline(),
                List.of(PartRef.of("temperature"), PartRef.of("top-p")), WATERMARKS))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining("'repetition-penalty'")
                .hasMessageContaining("[repetition-penalty, watermark-greenlist], each once and in that order");
        assertThatThrownBy(() -> RequestChain.of(pipeline(), List.of(PartRef.of("repetition-penalty"),
                PartRef.of("temperature")), WATERMARKS))
                .hasMessageContaining("keeps logits processor 'watermark-greenlist' fixed");
    }

    @Test
    void aWatermarkWithTheClientsOwnKeyIsRefusedAndTheKeyNotEchoed() {
        assertThatThrownBy(() -> RequestChain.of(pipeline(), List.of(PartRef.of("repetition-penalty"),
                part("watermark-greenlist", Map.of("hashing_key", "999")), PartRef.of("temperature")), WATERMARKS))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("'watermark-greenlist' fixed with the operator's options")
                .hasMessageNotContaining("999");
    }

    @Test
    void fixedPartsCannotBeReorderedOrRepeated() {
        assertThatThrownBy(() -> RequestChain.of(pipeline(), List.of(PartRef.of("watermark-greenlist"),
                PartRef.of("repetition-penalty")), WATERMARKS))
                .hasMessageContaining("in that order");
        assertThatThrownBy(() -> RequestChain.of(pipeline(), List.of(PartRef.of("repetition-penalty"),
                PartRef.of("watermark-greenlist"), PartRef.of("watermark-greenlist")), WATERMARKS))
                .hasMessageContaining("each once");
    }

    @Test
    void adjustablePartsMayChangeAndFixedOnesKeepTheOperatorsOptions() {
        List<PartRef> chain = RequestChain.of(pipeline(), List.of(part("min-p", Map.of("min_p", 0.1)),
                PartRef.of("repetition-penalty"), PartRef.of("watermark-greenlist"),
                part("temperature", Map.of("temperature", 1.5))), WATERMARKS);
        assertThat(chain).extracting(PartRef::name)
                .containsExactly("min-p", "repetition-penalty", "watermark-greenlist", "temperature");
        assertThat(chain.get(1).options().number("repetition_penalty", 0, 0, 10)).isEqualTo(1.1);
        assertThat(chain.get(2).options().string("hashing_key", null)).isEqualTo("12345");
        assertThat(chain.get(3).options().number("temperature", 0, 0, 10)).isEqualTo(1.5);
    }

    @Test
    void partsOutsideTheAllowListAreStillRefused() {
        assertThatThrownBy(() -> RequestChain.of(pipeline(), List.of(PartRef.of("repetition-penalty"),
                PartRef.of("watermark-greenlist"), PartRef.of("typical")), WATERMARKS))
                .hasMessageContaining("does not let a request use logits processor 'typical'");
    }

    @Test
    void aMissingPartFailsClosed() {
        Predicate<String> registryWithoutWatermark = name -> {
            if (name.equals("watermark-greenlist")) {
                throw new ArborException(ArborException.Kind.UNAVAILABLE, "needs watermark-greenlist");
            }
            return false;
        };
        assertThatThrownBy(() -> RequestChain.of(pipeline(), List.of(PartRef.of("temperature")),
                registryWithoutWatermark))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.UNAVAILABLE));
    }

    @Test
    void fixedPartsSeeOnlyTheOperatorsOptions() {
        PipelineDefinition d = pipeline();
        assertThat(RequestChain.isFixed(d, d.processors().get(0), false)).isTrue(); // "fixed": true
        assertThat(RequestChain.isFixed(d, d.processors().get(1), true)).isTrue(); // declares WATERMARK
        assertThat(RequestChain.isFixed(d, d.processors().get(2), false)).isFalse();
    }

    @Test
    void aPipelineProcessorNamedWithoutOptionsKeepsThePipelinesOwnOptions() {
        PipelineDefinition d = PipelineJson.parse(JSON.replace("\"temperature\", \"top-k\"",
                "{\"name\": \"temperature\", \"options\": {\"temperature\": 0.5}}, \"top-k\""), "wm.json", "wm",
                n -> null);
        // the pipeline's chain named back, by names only, with a constraint prepended (what response_format sends)
        List<PartRef> chain = RequestChain.of(d, List.of(part("min-p", Map.of("min_p", 0.2)),
                PartRef.of("repetition-penalty"), PartRef.of("watermark-greenlist"), PartRef.of("temperature"),
                PartRef.of("top-k"), PartRef.of("top-p")), WATERMARKS);
        assertThat(chain).extracting(PartRef::name).containsExactly("min-p", "repetition-penalty",
                "watermark-greenlist", "temperature", "top-k", "top-p");
        assertThat(chain.get(3).options().number("temperature", 0, 0, 10)).isEqualTo(0.5);
        assertThat(chain.get(2).options().string("hashing_key", null)).isEqualTo("12345");
        // options given by the request still replace the pipeline's entry for a part that is not fixed
        assertThat(RequestChain.of(d, List.of(part("temperature", Map.of("temperature", 1.5)),
                PartRef.of("repetition-penalty"), PartRef.of("watermark-greenlist")), WATERMARKS).get(0).options()
                .number("temperature", 0, 0, 10)).isEqualTo(1.5);
    }
}
