package dev.arbor.generation.maskeddiffusion;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.platform.runtime.internal.PipelineJson;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The example pipeline parses with the runtime's reader, names this part, and its options are accepted. */
class PipelineExampleTest {

    @Test
    void examplePipelineNamesThisGeneratorWithValidOptions() throws IOException {
        PipelineDefinition d = parse("/pipelines/arbor-tiny-mdlm.json");
        assertEquals(MaskedDiffusionGenerator.NAME, d.generator().name());
        EnumeratedJointMaskedBackend toy = EnumeratedJointMaskedBackend.random(3, 6, 1, LogitAlignment.SAME);
        GenerationResult r = new MaskedDiffusionGenerator().generate(TestContexts.context(toy,
                new int[] {toy.boundaryToken()}, 6, TestContexts.greedy(), new int[0], 1,
                d.generator().options().asMap()), TokenSink.DISCARD);
        assertEquals(6, r.tokens().length);
    }

    static PipelineDefinition parse(String resource) throws IOException {
        try (InputStream in = PipelineExampleTest.class.getResourceAsStream(resource)) {
            String json = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return PipelineJson.parse(json, resource, null, name -> name.equals("arbor.models") ? "/models" : null);
        }
    }
}
