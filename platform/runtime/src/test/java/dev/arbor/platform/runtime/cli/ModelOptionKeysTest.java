package dev.arbor.platform.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.ArborException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ModelOptionKeysTest {

    private static Map<String, String> extra() {
        Map<String, String> extra = new LinkedHashMap<>();
        extra.put("precision", "int4");
        extra.put("min_p", "0.05");
        extra.put("graph", "fused");
        return extra;
    }

    @Test
    void aModelRunSendsModelKeysToTheModelAndTheRestToTheRequest() {
        ModelOptionKeys.Split split = ModelOptionKeys.split(extra(), true, "model:x.bin");
        assertEquals(Map.of("precision", "int4", "graph", "fused"), split.model());
        assertEquals(Map.of("min_p", "0.05"), split.request());
    }

    @Test
    void aNamedPipelineRefusesModelKeysAndSaysWhereTheyBelong() {
        ArborException e = assertThrows(ArborException.class,
                () -> ModelOptionKeys.split(extra(), false, "stories260k"));
        assertEquals(ArborException.Kind.INVALID_INPUT, e.kind());
        assertTrue(e.getMessage().contains("graph, precision"), e.getMessage());
        assertTrue(e.getMessage().contains("etc/pipelines/stories260k.json"), e.getMessage());
    }

    @Test
    void requestKeysAlonePassForANamedPipeline() {
        ModelOptionKeys.Split split = ModelOptionKeys.split(Map.of("min_p", "0.1"), false, "stories260k");
        assertTrue(split.model().isEmpty());
        assertEquals(Map.of("min_p", "0.1"), split.request());
    }
}
