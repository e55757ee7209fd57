package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.sampling.TokenSelectorFactory;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** A pipeline file's own bad value is found when checked, naming the pipeline, its file and the part. */
class OperatorOptionsTest {
    static final String JSON = """
            {
              "name": "story",
              "model": {"backend": "onnxruntime", "format": "llama2c", "path": "/m.bin"},
              "tokenizer": {"format": "llama2c", "path": "/tok.bin"},
              "generator": "autoregressive",
              "processors": ["temperature", {"name": "top-p", "options": {"top_p": %s}}],
              "selector": "sample",
              "defaults": {"temperature": %s}
            }
            """;

    static PipelineDefinition pipeline(String topP, String temperature) {
        return PipelineJson.parse(JSON.formatted(topP, temperature), "/etc/pipelines/story.json", "story", n -> null);
    }

    /** A factory that refuses a value out of (0, max] of {@code key}, as the sampling bundle's parts do. */
    static LogitsProcessorFactory ranged(String key, double max, List<String> seen) {
        return options -> {
            seen.add(key);
            double v = options.number(key, 1.0, 0, max);
            if (v == 0) {
                throw ArborException.invalid("option '" + key + "' must be > 0");
            }
            return (logits, context) -> { };
        };
    }

    static final TokenSelectorFactory SAMPLE = options -> (logits, context) -> null;

    static String check(PipelineDefinition d, List<LogitsProcessorFactory> processors) {
        return OperatorOptions.problem(d, "/etc/pipelines/story.json", Options.empty().with(d.defaults()),
                processors, Collections.nCopies(processors.size(), "dev.arbor.sampling 1.0.0"), SAMPLE,
                "dev.arbor.sampling 1.0.0", null);
    }

    @Test
    void aPipelineFileIsShownByItsNameUnderEtcNotByTheServersPath() {
        assertThat(OperatorOptions.shownSource("/opt/arbor/etc/pipelines/story.json"))
                .isEqualTo("etc/pipelines/story.json");
        assertThat(OperatorOptions.shownSource("pipeline 'x' defined at run time"))
                .isEqualTo("pipeline 'x' defined at run time");
    }

    @Test
    void goodValuesPassAndEachPartIsCreatedOnce() {
        List<String> seen = new ArrayList<>();
        assertThat(check(pipeline("0.9", "0.8"), List.of(ranged("temperature", 10, seen), ranged("top_p", 1, seen))))
                .isNull();
        assertThat(seen).containsExactly("temperature", "top_p");
    }

    @Test
    void aBadPartOptionNamesThePipelineItsFileAndThePart() {
        List<String> seen = new ArrayList<>();
        String problem = check(pipeline("1.5", "0.8"), List.of(ranged("temperature", 10, seen),
                ranged("top_p", 1, seen)));
        assertThat(problem).contains("logits processor 'top-p': ").contains("'top_p'")
                .contains("pipeline 'story'").contains("/etc/pipelines/story.json");
    }

    @Test
    void aBadDefaultNamesThePartThatRefusesIt() {
        String problem = check(pipeline("0.9", "-1"), List.of(ranged("temperature", 10, new ArrayList<>()),
                ranged("top_p", 1, new ArrayList<>())));
        assertThat(problem).contains("logits processor 'temperature': ").contains("pipeline 'story'");
    }

    @Test
    void aSelectorThatRefusesIsNamed() {
        PipelineDefinition d = pipeline("0.9", "0.8");
        String problem = OperatorOptions.problem(d, "/etc/pipelines/story.json", d.defaults(), List.of(
                options -> (logits, context) -> { }, options -> (logits, context) -> { }), List.of("b", "b"),
                options -> {
                    throw ArborException.invalid("option 'seed' must be an integer");
                }, "b", null);
        assertThat(problem).contains("token selector 'sample': option 'seed' must be an integer");
    }

    @Test
    void constraintsAndPartsThatFailOtherwiseAreLeftToRequests() {
        PipelineDefinition d = pipeline("1.5", "0.8");
        LogitsProcessorFactory constraint = new LogitsProcessorFactory() {
            @Override
            public LogitsProcessor create(Options options) {
                throw ArborException.invalid("needs the request's token budget");
            }

            @Override
            public Set<Trait> traits() {
                return Set.of(Trait.CONSTRAINS_OUTPUT);
            }
        };
        LogitsProcessorFactory unavailable = options -> {
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "busy");
        };
        assertThat(OperatorOptions.problem(d, "f", d.defaults(), List.of(unavailable, constraint), List.of("b", "b"),
                SAMPLE, "b", null)).isNull();
    }
}
