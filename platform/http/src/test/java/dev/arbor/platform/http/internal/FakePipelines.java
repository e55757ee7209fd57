package dev.arbor.platform.http.internal;

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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** A pipeline service for handler tests: "echo" answers at once, "slow" waits until {@link #release} opens. */
final class FakePipelines implements PipelineService {
    final CountDownLatch release = new CountDownLatch(1);
    /** Counts down when a "slow" completion has started (a worker holds it). */
    final CountDownLatch slowStarted = new CountDownLatch(1);

    @Override
    public List<PipelineStatus> pipelines() {
        return List.of(status("echo").orElseThrow(), status("slow").orElseThrow());
    }

    @Override
    public Optional<PipelineStatus> status(String name) {
        return List.of("echo", "slow").contains(name) ? Optional.of(new PipelineStatus(name, true, List.of(), null))
                : Optional.empty();
    }

    @Override
    public Completion complete(CompletionRequest request, TextSink sink) {
        if (request.pipeline().equals("slow")) {
            slowStarted.countDown();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        sink.onText("ok", 7, -0.5);
        return new Completion(request.pipeline(), "ok", new int[] {1}, new int[] {7}, new double[] {-0.5},
                FinishReason.LENGTH, 1_000, 2_000, Map.of());
    }

    @Override
    public int[] tokenize(String pipeline, String text) {
        return new int[text.length()];
    }

    @Override
    public PostProcessor.Output analyze(String pipeline, String text, Options options) {
        return new PostProcessor.Output(new int[text.length()], text, Map.of());
    }

    @Override
    public void define(PipelineDefinition definition) {
        throw new IllegalStateException("not used by these tests");
    }
}
