package dev.arbor.watermark.greenlist.internal;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.StateWrite;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.sampling.internal.SampleSelectorFactory;
import dev.arbor.sampling.internal.TemperatureFactory;
import dev.arbor.sampling.internal.TopPFactory;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * stories260K on ONNX Runtime on the flat class path, sampled the way the {@code stories260k} pipeline does by
 * default (temperature 0.8, top-p 0.9, seeded), with optional extra processors (a watermark) first in the chain.
 * No stop tokens: every generation has exactly the requested length.
 */
final class Stories260k implements AutoCloseable {
    static final String[] PROMPTS = {"Once upon a time", "Lily and Ben", "The dog", "One day", "Tom had a red ball",
        "The sun was shining", "Mom said", "There was a little bird", "Sara liked to", "The big tree"};
    static final Options SAMPLING = Options.of(Map.of("temperature", 0.8, "top_p", 0.9));

    final ModelBackend model;
    final Llama2cTokenizer tokenizer;
    private final AutoregressiveGenerator generator = new AutoregressiveGenerator();

    private Stories260k(ModelBackend model, Llama2cTokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    static Stories260k open() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        Path tok = SharedModels.require("stories260K/tok512.bin");
        ModelBackend model = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", Path.of("target/arbor-cache").toAbsolutePath().toString()))));
        return new Stories260k(model, Llama2cTokenizer.read(tok, model.card().vocabSize()));
    }

    /** {@code tokens} sampled ids after {@code prompt} (BOS + its encoding), with the request seed {@code seed}. */
    int[] generate(String prompt, long seed, int tokens, Supplier<List<LogitsProcessor>> extra) {
        Supplier<Sampler> samplers = () -> {
            List<LogitsProcessor> chain = new ArrayList<>(extra.get());
            chain.add(new TemperatureFactory().create(SAMPLING));
            chain.add(new TopPFactory().create(SAMPLING));
            return new Sampler(chain, new SampleSelectorFactory().create(SAMPLING));
        };
        GenerationContext context = new GenerationContext(model, tokenizer, tokenizer.encode(prompt, true), tokens,
                samplers, new int[0], seed, Options.empty(), Cancellation.NEVER);
        return generator.generate(context, TokenSink.DISCARD).tokens();
    }

    /**
     * A batch of {@code seeds.length} generations of one prompt in one forward per step (the backend's batch
     * capability; much cheaper than one request per text on a 260K-parameter model, where a forward's cost is mostly
     * fixed overhead). Row b has its own sampler chain (fresh {@code extra} processors) and its own
     * {@code SamplingContext} seeded with {@code seeds[b]}, exactly as a single request of that seed has.
     */
    int[][] generateBatch(String prompt, long[] seeds, int tokens, Supplier<List<LogitsProcessor>> extra) {
        int batch = seeds.length;
        int[] ids = tokenizer.encode(prompt, true);
        int vocab = model.card().vocabSize();
        Sampler[] samplers = new Sampler[batch];
        SamplingContext[] contexts = new SamplingContext[batch];
        int[][] rows = new int[batch][];
        for (int b = 0; b < batch; b++) {
            List<LogitsProcessor> chain = new ArrayList<>(extra.get());
            chain.add(new TemperatureFactory().create(SAMPLING));
            chain.add(new TopPFactory().create(SAMPLING));
            samplers[b] = new Sampler(chain, new SampleSelectorFactory().create(SAMPLING));
            contexts[b] = SamplingContext.seeded(ids, vocab, seeds[b]);
            rows[b] = ids;
        }
        int[][] out = new int[batch][tokens];
        try (DecodeState state = model.newState(batch)) {
            ForwardResult result = model.forward(ForwardRequest.builder(rows).state(state).write(StateWrite.APPEND)
                    .lastRowOnly().build());
            int[][] next = new int[batch][1];
            for (int step = 0; step < tokens; step++) {
                for (int b = 0; b < batch; b++) {
                    int token = samplers[b].sample(result.last(b).clone(), contexts[b]).token();
                    contexts[b].append(token);
                    out[b][step] = token;
                    next[b][0] = token;
                }
                if (step + 1 < tokens) {
                    result = model.forward(ForwardRequest.next(next, state));
                }
            }
        }
        return out;
    }

    int[] generate(String prompt, long seed, int tokens) {
        return generate(prompt, seed, tokens, List::of);
    }

    @Override
    public void close() {
        model.close();
    }
}
