package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.TokenSelector;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Errors that say which part refused, which part is missing, and that a plugin's throw reaches the log whole. */
class PartErrorsTest {
    private static final Logger RUNTIME_LOG = Logger.getLogger("dev.arbor.runtime");
    private final List<LogRecord> records = new ArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord r) {
            synchronized (records) {
                records.add(r);
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    @BeforeEach
    void listen() {
        RUNTIME_LOG.addHandler(capture);
    }

    @AfterEach
    void stopListening() {
        RUNTIME_LOG.removeHandler(capture);
    }

    @Test
    void aPartsRefusalOfAnOptionNamesThePartAndKeepsItsKind() {
        ArborException refused = ArborException.invalid("option 'top_p' must be in (0, 1], got 1.5");
        ArborException e = GuardedParts.failure(PartKind.PROCESSOR.describe("top-p"), "dev.arbor.samplers 1.0.0",
                refused);
        assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT);
        assertThat(e).hasMessage("logits processor 'top-p': option 'top_p' must be in (0, 1], got 1.5");
        assertThat(e.getCause()).isSameAs(refused);
        // a generator running the sampler that refused does not bury the processor under its own name
        ArborException outer = GuardedParts.failure(PartKind.GENERATOR.describe("autoregressive"), "b", e);
        assertThat(outer).isSameAs(e);
        assertThat(GuardedParts.failure(PartKind.SELECTOR.describe("sample"), "b",
                ArborException.invalid("option 'seed' must be an integer")))
                .hasMessage("token selector 'sample': option 'seed' must be an integer");
        assertThat(GuardedParts.failure(PartKind.GENERATOR.describe("speculative"), "b",
                ArborException.invalid("option 'draft_tokens' must be at least 1")))
                .hasMessage("generator 'speculative': option 'draft_tokens' must be at least 1");
        // other kinds (a model that is not there, a cancelled request) are not the part's refusal: unchanged
        ArborException unavailable = new ArborException(ArborException.Kind.UNAVAILABLE, "model busy");
        assertThat(GuardedParts.failure("generator 'x'", "b", unavailable)).isSameAs(unavailable);
        assertThat(records).isEmpty();
    }

    @Test
    void aRefusalFromAWrappedProcessorOrSelectorNamesIt() {
        LogitsProcessor refusing = (logits, context) -> {
            throw ArborException.invalid("grammar allows no token here");
        };
        assertThatThrownBy(() -> GuardedParts.processor(refusing, PartKind.PROCESSOR.describe("json-schema"), "b")
                .process(new float[4], null))
                .hasMessage("logits processor 'json-schema': grammar allows no token here");
        TokenSelector selector = (logits, context) -> {
            throw ArborException.invalid("no token left");
        };
        assertThatThrownBy(() -> GuardedParts.selector(selector, PartKind.SELECTOR.describe("mirostat"), "b")
                .select(new float[4], null))
                .hasMessage("token selector 'mirostat': no token left");
    }

    @Test
    void aPluginThatThrowsIsLoggedOnceWithItsStackTraceAndBundle() {
        LogitsProcessor broken = (logits, context) -> {
            throw new IllegalStateException("index bug");
        };
        LogitsProcessor guarded = GuardedParts.processor(broken, PartKind.PROCESSOR.describe("no-repeat"),
                "com.example.norepeat 1.0.0");
        assertThatThrownBy(() -> guarded.process(new float[4], null))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind())
                        .isEqualTo(ArborException.Kind.PLUGIN_FAILURE))
                .hasMessageContaining("logits processor 'no-repeat' (bundle com.example.norepeat 1.0.0) failed");
        List<LogRecord> mine = records.stream().filter(r -> r.getMessage().contains("no-repeat")).toList();
        assertThat(mine).hasSize(1);
        LogRecord r = mine.get(0);
        assertThat(r.getLevel()).isEqualTo(Level.WARNING);
        assertThat(r.getMessage()).contains("com.example.norepeat 1.0.0");
        assertThat(r.getThrown()).isInstanceOf(IllegalStateException.class).hasMessage("index bug");
        assertThat(r.getThrown().getStackTrace()).isNotEmpty();
    }

    @Test
    void aMisspeltProcessorIsNoSuchPartWithTheInstalledNames() {
        PipelineDefinition d = RequestChainTest.pipeline();
        assertThatThrownBy(() -> RequestChain.of(d, List.of(PartRef.of("top-pp")), RequestChainTest.WATERMARKS,
                () -> Set.of("top-p", "top-k", "temperature", "min-p")))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageStartingWith("no such logits processor 'top-pp'")
                .hasMessageContaining("installed: min-p, temperature, top-k, top-p")
                .hasMessageNotContaining("does not let");
    }

    @Test
    void anInstalledPartThatThePipelineDoesNotListIsNotAllowedEachNameOnce() {
        PipelineDefinition d = RequestChainTest.pipeline();
        assertThatThrownBy(() -> RequestChain.of(d, List.of(PartRef.of("typical")), RequestChainTest.WATERMARKS,
                () -> Set.of("typical", "top-p")))
                .hasMessageStartingWith("pipeline 'wm' does not let a request use logits processor 'typical'")
                .hasMessageContaining("overrides")
                .hasMessageEndingWith("allowed: repetition-penalty, watermark-greenlist, temperature, top-k,"
                        + " top-p, min-p");
        // a generator allow-list that repeats the pipeline's own generator lists it once
        assertThat(RequestChain.notAllowed("p", PartKind.GENERATOR, "beam", List.of("autoregressive",
                "autoregressive", "speculative"), Set.of("beam", "autoregressive")))
                .hasMessageEndingWith("allowed: autoregressive, speculative");
        assertThat(RequestChain.notAllowed("p", PartKind.GENERATOR, "beem", List.of("autoregressive"),
                Set.of("beam", "autoregressive")))
                .hasMessageStartingWith("no such generator 'beem'")
                .hasMessageContaining("installed: autoregressive, beam");
    }
}
