package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RequestPathGuardTest {
    private static void check(Map<String, Object> options) {
        RequestPathGuard.check(CompletionRequest.text("p", "hi", Options.of(options)), () -> List.of("tiny-draft"));
    }

    @Test
    void aModelReferenceWithAPathIsRefusedNamingTheOptionAndTheRegistry() {
        assertThatThrownBy(() -> check(Map.of("draft", Map.of("path", "/etc/shadow"))))
                .isInstanceOfSatisfying(ArborException.class, e -> org.assertj.core.api.Assertions
                        .assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining("option 'draft' gives a file path")
                .hasMessageContaining("\"draft\": \"NAME\"").hasMessageContaining("declared models: tiny-draft")
                .hasMessageNotContaining("shadow");
    }

    @Test
    void directoriesAndFilesAtAnyDepthAreRefused() {
        assertThatThrownBy(() -> check(Map.of("cache_dir", "/tmp/x"))).hasMessageContaining("'cache_dir'")
                .hasMessageContaining("only the operator sets");
        assertThatThrownBy(() -> check(Map.of("draft", Map.of("model", "tiny-draft",
                "options", Map.of("cache_dir", "/tmp/x"))))).hasMessageContaining("draft.options.cache_dir");
        assertThatThrownBy(() -> check(Map.of("guide", List.of(Map.of("weights_file", "/x")))))
                .hasMessageContaining("weights_file");
    }

    @Test
    void processorAndGeneratorOptionsOfTheRequestAreCheckedToo() {
        CompletionRequest viaProcessor = new CompletionRequest("p", "hi", null, null, null,
                List.of(new PartRef("top-k", Options.of(Map.of("cache_dir", "/x")))), Options.empty());
        assertThatThrownBy(() -> RequestPathGuard.check(viaProcessor, List::of)).hasMessageContaining("cache_dir");
        CompletionRequest viaGenerator = new CompletionRequest("p", "hi", null, null,
                new PartRef("speculative", Options.of(Map.of("draft", Map.of("path", "/x")))), null, Options.empty());
        assertThatThrownBy(() -> RequestPathGuard.check(viaGenerator, List::of)).hasMessageContaining("'draft'");
    }

    @Test
    void registryNamesAndOrdinaryOptionsPass() {
        assertThatCode(() -> check(Map.of("draft", "tiny-draft", "lookahead", 4, "temperature", 0.7,
                "guide", Map.of("model", "tiny-draft"), "stop", List.of("x")))).doesNotThrowAnyException();
    }
}
