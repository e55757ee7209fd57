package dev.arbor.tests.diffusion;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.generation.eoserass.EoserAssGenerator;
import dev.arbor.generation.fastdllm.FastDllmGenerator;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.tests.diffusion.DiffusionStrategies.Strategy;
import dev.arbor.testkit.RecordingSink;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every diffusion strategy (all seven bundles' generators, {@link DiffusionStrategies#ALL}) on the forge's trained
 * masked-diffusion LM ({@code arbor-tiny-mdlm}, bidirectional) and block-diffusion LM ({@code arbor-tiny-bd},
 * block-causal) on both backends, ONNX Runtime and DJL, greedy: each writes text for a prompt with no MASK left
 * (at least 70 % of its words in the system dictionary, where Debian's word list is installed), reports exactly the
 * forward passes that reached the backend, and both backends give the same tokens. The causal default model is
 * refused by every strategy, naming both parts; Fast-dLLM's approximate sub-block cache runs on both backends alike.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DiffusionStrategiesOnTrainedModelsTest {
    static final String PROMPT = "Once upon a time";
    static final int MAX_TOKENS = 48;
    @TempDir
    static Path cache;
    TrainedModels trained;
    Backends backends;
    Llama2cTokenizer tokenizer;
    /** Debian's word list (package wamerican), as the forge's model cards use it; null where absent. */
    Set<String> dictionary;

    @BeforeAll
    void open() {
        trained = Trained.require();
        backends = new Backends(cache);
        tokenizer = Llama2cTokenizer.read(trained.tokenizer(TrainedModels.MDLM), 0);
        Path words = Path.of("/usr/share/dict/words");
        if (Files.isReadable(words)) {
            try (Stream<String> lines = Files.lines(words)) {
                dictionary = lines.map(w -> w.toLowerCase(Locale.ROOT)).collect(Collectors.toSet());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** The share of the text's words (letters and apostrophes) that the dictionary knows, case-insensitively. */
    private double dictionaryShare(String text) {
        Matcher m = Pattern.compile("[A-Za-z]+(?:'[A-Za-z]+)?").matcher(text);
        int words = 0;
        int known = 0;
        while (m.find()) {
            words++;
            known += dictionary.contains(m.group().toLowerCase(Locale.ROOT)) ? 1 : 0;
        }
        return words == 0 ? 0 : (double) known / words;
    }

    @AfterAll
    void close() {
        if (backends != null) {
            backends.close();
        }
    }

    static Stream<Arguments> modelsAndStrategies() {
        List<Arguments> out = new ArrayList<>();
        for (String model : List.of(TrainedModels.MDLM, TrainedModels.BD)) {
            for (Strategy s : DiffusionStrategies.ALL) {
                out.add(Arguments.of(model, s));
            }
        }
        return out.stream();
    }

    @Test
    void theCardsSayWhatTheModelsAre() {
        for (String backend : Backends.NAMES) {
            ModelCard mdlm = backends.open(backend, trained.checkpoint(TrainedModels.MDLM)).card();
            assertThat(mdlm.nativeAttention()).as(backend).isEqualTo(NativeAttention.BIDIRECTIONAL);
            assertThat(mdlm.maskTokenId()).as(backend).isPresent();
            assertThat(mdlm.supports(Capability.FULL_ATTENTION)).as(backend).isTrue();
            ModelCard bd = backends.open(backend, trained.checkpoint(TrainedModels.BD)).card();
            assertThat(bd.nativeAttention()).as(backend).isEqualTo(NativeAttention.BLOCK_CAUSAL);
            assertThat(bd.blockSize()).as(backend).isPositive();
            assertThat(bd.maskTokenId()).as(backend).isEqualTo(mdlm.maskTokenId());
            assertThat(bd.supports(Capability.SEGMENT_MASK)).as(backend).isTrue();
            ModelCard ar = backends.open(backend, trained.checkpoint(TrainedModels.AR)).card();
            assertThat(ar.nativeAttention()).as(backend).isEqualTo(NativeAttention.CAUSAL);
            assertThat(ar.vocabSize()).as("one tokenizer for all").isEqualTo(mdlm.vocabSize())
                    .isEqualTo(bd.vocabSize());
        }
    }

    /**
     * Strategy defaults that a model refuses, by model and part, with what the refusal must say (none today: EOSER/ASS
     * once refused the block-diffusion model's partial first block; its default now fits every block).
     */
    static final Map<String, String> REFUSED = Map.of();

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("modelsAndStrategies")
    void everyStrategyWritesTextOnBothBackendsWithTheSameTokens(String modelName, Strategy strategy) {
        int[] prompt = tokenizer.encode(PROMPT, true);
        String refusal = REFUSED.get(modelName + "/" + strategy.part());
        if (refusal != null) {
            for (String backend : Backends.NAMES) {
                ModelBackend model = backends.open(backend, trained.checkpoint(modelName));
                assertThatThrownBy(() -> DiffusionRun.greedy(strategy, model, null, null, prompt, MAX_TOKENS))
                        .as(modelName + " on " + backend + " with " + strategy.label())
                        .isInstanceOf(ArborException.class).hasMessageContaining(refusal);
            }
            return;
        }
        Map<String, DiffusionRun> runs = new HashMap<>();
        for (String backend : Backends.NAMES) {
            ModelBackend model = backends.open(backend, trained.checkpoint(modelName));
            DiffusionRun run = DiffusionRun.greedy(strategy, model, backends.resolver(backend,
                    trained.checkpoint(modelName)), trained.checkpoint(TrainedModels.DRAFT), prompt, MAX_TOKENS);
            String where = modelName + " on " + backend + " with " + strategy.label();
            checkOne(where, model.card(), run);
            if (strategy == DiffusionStrategies.BASELINE) {
                assertThat(run.stat("decoded_per_forward")).as(where + ": the baseline decodes one per forward")
                        .isEqualTo(1.0);
            }
            runs.put(backend, run);
        }
        int[] ort = runs.get(Backends.ONNXRUNTIME).tokens();
        int[] djl = runs.get(Backends.DJL).tokens();
        assertThat(djl).as("%s: DJL and ONNX Runtime tokens (greedy)\n ORT: %s\n DJL: %s", strategy.label(),
                tokenizer.decode(ort), tokenizer.decode(djl)).containsExactly(ort);
        assertThat(runs.get(Backends.DJL).result().forwardPasses()).as("forward passes on both backends")
                .isEqualTo(runs.get(Backends.ONNXRUNTIME).result().forwardPasses());
    }

    private void checkOne(String where, ModelCard card, DiffusionRun run) {
        int mask = card.maskTokenId().getAsInt();
        int[] tokens = run.tokens();
        String text = tokenizer.decode(tokens);
        System.out.printf("%s: %d tokens, %d forwards: %s%n", where, tokens.length, run.result().forwardPasses(),
                text.replace('\n', ' '));
        assertThat(tokens).as(where + ": generated tokens").isNotEmpty().doesNotContain(mask);
        assertThat(run.sink().tokens()).as(where + ": streamed tokens").containsExactly(tokens);
        assertThat(text).as(where + ": text").containsPattern("[A-Za-z]{2,}");
        if (dictionary != null) {
            assertThat(dictionaryShare(text)).as(where + ": share of dictionary words in '" + text + "'")
                    .isGreaterThanOrEqualTo(0.7);
        }
        assertThat(run.result().finishReason()).as(where).isIn(FinishReason.LENGTH, FinishReason.STOP);
        if (run.result().finishReason() == FinishReason.LENGTH) {
            assertThat(tokens).as(where + ": a LENGTH finish fills the budget").hasSize(MAX_TOKENS);
        }
        // forward-pass accounting: what the strategy reports is what reached the backend
        int forwards = run.result().forwardPasses();
        assertThat(forwards).as(where + ": reported forwards vs backend calls").isEqualTo(run.backendForwards());
        assertThat(forwards).as(where + ": forwards").isBetween(1, 2 * MAX_TOKENS + 2);
        double guide = run.stat("guide_forward_passes");
        if (!Double.isNaN(guide)) {
            assertThat((int) guide).as(where + ": reported guide forwards vs the guide's calls")
                    .isEqualTo(run.otherForwards()).isPositive();
            assertThat(run.stat("total_forward_passes")).as(where).isEqualTo(forwards + guide);
        } else {
            assertThat(run.otherForwards()).as(where + ": no other model was run").isZero();
        }
        assertThat(run.stat("tokens_per_forward")).as(where + ": tokens_per_forward")
                .isCloseTo((double) tokens.length / forwards, within(1e-9));
        double decoded = run.stat("decoded_tokens");
        assertThat(decoded).as(where + ": decoded positions").isGreaterThanOrEqualTo(tokens.length);
        assertThat(run.stat("decoded_per_forward")).isCloseTo(decoded / forwards, within(1e-9));
        // every step streamed a canvas; the last one holds the emitted tokens, unmasked
        List<RecordingSink.CanvasEvent> canvases = run.sink().canvases();
        assertThat(canvases).as(where + ": canvases").isNotEmpty();
        int[] last = canvases.get(canvases.size() - 1).tokens();
        assertThat(Arrays.copyOf(last, tokens.length)).as(where + ": final canvas").containsExactly(tokens);
    }

    @Test
    void everyStrategyRefusesTheCausalModelNamingBothParts() {
        int[] prompt = tokenizer.encode(PROMPT, true);
        for (String backend : Backends.NAMES) {
            ModelBackend ar = backends.open(backend, trained.checkpoint(TrainedModels.AR));
            for (Strategy s : DiffusionStrategies.ALL) {
                assertThatThrownBy(() -> DiffusionRun.greedy(s, ar, backends.resolver(backend,
                        trained.checkpoint(TrainedModels.AR)), trained.checkpoint(TrainedModels.DRAFT), prompt, 8))
                        .as(s.label() + " on " + backend)
                        .isInstanceOfSatisfying(ArborException.class, e -> assertThat(e.kind())
                                .isEqualTo(ArborException.Kind.INCOMPATIBLE))
                        .hasMessageContaining("'" + s.part() + "'")
                        .hasMessageContaining(ar.card().name())
                        .hasMessageContaining("causal");
            }
        }
    }

    /** EOSER with LLaDA's uniform schedule (its EOSER-only mode) on the block-diffusion model, on both backends. */
    @Test
    void eoserWithItsUniformScheduleRunsOnTheBlockDiffusionModel() {
        int[] prompt = tokenizer.encode(PROMPT, true);
        Strategy eoser = DiffusionStrategies.ALL.stream().filter(s -> s.part().equals(EoserAssGenerator.NAME))
                .findFirst().orElseThrow();
        int[] first = null;
        for (String backend : Backends.NAMES) {
            ModelBackend bd = backends.open(backend, trained.checkpoint(TrainedModels.BD));
            DiffusionRun run = DiffusionRun.greedy(eoser, Map.of("schedule", "uniform"), bd, null, prompt,
                    MAX_TOKENS);
            checkOne(TrainedModels.BD + " on " + backend + " with EOSER, uniform schedule", bd.card(), run);
            if (first == null) {
                first = run.tokens();
            } else {
                assertThat(run.tokens()).as("DJL vs ONNX Runtime").containsExactly(first);
            }
        }
    }

    /**
     * Fast-dLLM's approximate sub-block cache writes KV at given slots ({@code StateWrite.At}), which both backends
     * offer: on the trained block-diffusion model (no MASK left) DJL and ONNX Runtime give the same tokens, and the
     * agreement with the uncached decode is measured and printed, since the cache is approximate by design.
     */
    @Test
    void fastDllmSubBlockCacheRunsOnBothBackendsAlike() {
        int[] prompt = tokenizer.encode(PROMPT, true);
        Strategy fast = DiffusionStrategies.ALL.stream().filter(s -> s.part().equals(FastDllmGenerator.NAME))
                .findFirst().orElseThrow();
        ModelBackend ort = backends.open(Backends.ONNXRUNTIME, trained.checkpoint(TrainedModels.BD));
        ModelBackend djl = backends.open(Backends.DJL, trained.checkpoint(TrainedModels.BD));
        assertThat(ort.card().supports(Capability.STATE_WRITE_AT)).isTrue();
        assertThat(djl.card().supports(Capability.STATE_WRITE_AT)).isTrue();
        int[] cached = DiffusionRun.greedy(fast, Map.of("use_block_cache", true), djl, null, prompt, MAX_TOKENS)
                .tokens();
        int[] cachedOrt = DiffusionRun.greedy(fast, Map.of("use_block_cache", true), ort, null, prompt, MAX_TOKENS)
                .tokens();
        assertThat(cachedOrt).as("sub-block cache, ONNX Runtime vs DJL").containsExactly(cached);
        int[] plain = DiffusionRun.greedy(fast, Map.of(), djl, null, prompt, MAX_TOKENS).tokens();
        int mask = djl.card().maskTokenId().getAsInt();
        assertThat(cached).isNotEmpty().doesNotContain(mask);
        int same = 0;
        for (int i = 0; i < Math.min(cached.length, plain.length); i++) {
            same += cached[i] == plain[i] ? 1 : 0;
        }
        System.out.printf("fast-dllm sub-block cache on djl and onnxruntime, %s: %d of %d tokens equal to the "
                + "uncached decode%n", TrainedModels.BD, same, plain.length);
        assertThat(same).as("the approximate cache still decodes the same opening").isPositive();
    }

    /**
     * The issue-7 trade-off's accounting: fixed-step LLaDA decoding at k tokens per step makes one forward per step
     * (no cache): on the bidirectional model (one block) exactly L/k forwards, k tokens per forward; on the
     * block-diffusion model the steps are spread over its blocks, so tokens per forward grow with k. The same tokens
     * on both backends.
     */
    @Test
    void fixedStepDecodingTakesOneForwardPerStep() {
        int[] prompt = tokenizer.encode(PROMPT, true);
        for (String modelName : List.of(TrainedModels.MDLM, TrainedModels.BD)) {
            double previous = 0;
            for (int k : new int[] {1, 2, 4, 8}) {
                int[] first = null;
                int forwards = 0;
                for (String backend : Backends.NAMES) {
                    ModelBackend model = backends.open(backend, trained.checkpoint(modelName));
                    Strategy fixed = DiffusionStrategies.fixedSteps(model.card(), prompt.length, MAX_TOKENS, k);
                    // no stop ids: every run decodes the whole budget, so the counts are exact
                    DiffusionRun run = DiffusionRun.greedy(fixed, fixed.options(), model, null, prompt, MAX_TOKENS,
                            new int[0]);
                    String where = modelName + " on " + backend + ", " + k + " tokens/step";
                    assertThat(run.tokens()).as(where).hasSize(MAX_TOKENS);
                    assertThat(run.result().forwardPasses()).as(where).isEqualTo(run.backendForwards())
                            .isEqualTo((int) run.stat("steps"));
                    if (k == 1) {
                        assertThat(run.stat("tokens_per_forward")).as(where).isEqualTo(1.0);
                    }
                    if (modelName.equals(TrainedModels.MDLM)) {
                        assertThat(run.result().forwardPasses()).as(where).isEqualTo(MAX_TOKENS / k);
                    }
                    assertThat(run.stat("tokens_per_forward")).as(where + ": more than at half the step size")
                            .isGreaterThan(previous);
                    forwards = run.result().forwardPasses();
                    if (first == null) {
                        first = run.tokens();
                    } else {
                        assertThat(run.tokens()).as(where + " vs ONNX Runtime").containsExactly(first);
                    }
                }
                previous = (double) MAX_TOKENS / forwards;
            }
        }
    }
}
