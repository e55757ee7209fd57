package dev.arbor.platform.oip.internal;

import dev.arbor.api.Options;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.postprocess.PostProcessor;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A pipeline service for front-end tests. "echo" answers the prompt reversed (text) or the prompt ids plus one
 * (ids), one token per character; "slow" waits until {@link #release} opens or its thread is interrupted (then it
 * reports CANCELLED, as a cooperating generator does); "broken" is configured but not ready. Every request is kept.
 */
public final class RecordingPipelines implements PipelineService {
    public final List<CompletionRequest> requests = new CopyOnWriteArrayList<>();
    public final CountDownLatch release = new CountDownLatch(1);
    public final CountDownLatch slowStarted = new CountDownLatch(1);
    public final CountDownLatch slowInterrupted = new CountDownLatch(1);

    @Override
    public List<PipelineStatus> pipelines() {
        return List.of(status("broken").orElseThrow(), status("echo").orElseThrow(), status("slow").orElseThrow());
    }

    @Override
    public Optional<PipelineStatus> status(String name) {
        if (name.equals("broken")) {
            return Optional.of(new PipelineStatus(name, false, List.of("logits processor 'missing'"), null));
        }
        return List.of("echo", "slow").contains(name) ? Optional.of(new PipelineStatus(name, true, List.of(), null))
                : Optional.empty();
    }

    @Override
    public Completion complete(CompletionRequest request, TextSink sink) {
        requests.add(request);
        if (request.pipeline().equals("slow")) {
            slowStarted.countDown();
            try {
                if (!release.await(30, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("the test never released the slow pipeline");
                }
            } catch (InterruptedException e) {
                slowInterrupted.countDown();
                return new Completion(request.pipeline(), "", new int[] {1}, new int[0], new double[0],
                        FinishReason.CANCELLED, 0, 0, Map.of());
            }
        }
        int[] prompt = request.inputIds() != null ? request.inputIds().clone()
                : request.prompt().chars().toArray();
        String text = request.prompt() != null ? new StringBuilder(request.prompt()).reverse().toString() : "ids";
        int[] tokens = new int[request.prompt() != null ? text.length() : prompt.length];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = request.prompt() != null ? text.charAt(i) : prompt[i] + 1;
        }
        return new Completion(request.pipeline(), text, prompt, tokens, new double[tokens.length],
                FinishReason.LENGTH, 1_000, 2_000, Map.of());
    }

    @Override
    public int[] tokenize(String pipeline, String text) {
        return text.chars().toArray();
    }

    @Override
    public PostProcessor.Output analyze(String pipeline, String text, Options options) {
        throw new IllegalStateException("not used by these tests");
    }

    @Override
    public void define(PipelineDefinition definition) {
        throw new IllegalStateException("not used by these tests");
    }
}
