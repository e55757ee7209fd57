package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.Gpt2Fixture.argmax;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.assertClose;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.expected;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.ints;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.section;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * stories260K's fused fp32 graph (format llama2c, option graph=fused) on the arena path: llama2.c's greedy tokens,
 * logits of the reference graph, and the same tokens for concurrent batched requests as for each alone.
 */
class FusedStoriesTest {
    @TempDir
    static Path cache;
    private static ModelBackend fused;
    private static ModelBackend plain;

    @BeforeAll
    static void open() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        fused = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString(), "graph", "fused"))));
        plain = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString()))));
    }

    @AfterAll
    static void close() {
        if (fused != null) {
            fused.close();
        }
        if (plain != null) {
            plain.close();
        }
    }

    @Test
    void opensOnTheFusedPath() {
        assertThat(((OnnxDecoderBackend) fused).signature().fused).isTrue();
        assertThat(((OnnxDecoderBackend) plain).signature().fused).isFalse();
        assertThat(((OnnxDecoderBackend) fused).signature().hasBias).as("the converter's fused graph takes "
                + "attention_bias, which the decode path feeds as zeros").isTrue();
    }

    @Test
    void greedy200StepsFromBosMatchesLlama2c() {
        Map<String, Object> g = section(expected("stories260K"), "greedy");
        int[] want = ints(g.get("generated_ids"));
        int[] got = new int[want.length];
        try (DecodeState state = fused.newState(1); DecodeState ref = plain.newState(1)) {
            int next = ints(g.get("prompt_ids"))[0];
            for (int i = 0; i < want.length; i++) {
                float[] logits = fused.forward(ForwardRequest.next(new int[][] {{next}}, state)).last(0);
                if (i % 20 == 0) {
                    float[] reference = plain.forward(ForwardRequest.builder(new int[][] {{next}}).state(ref)
                            .build()).last(0);
                    assertClose(logits, reference, 1e-3, "fused vs reference graph at step " + i);
                } else {
                    plain.forward(ForwardRequest.next(new int[][] {{next}}, ref));
                }
                next = argmax(logits);
                got[i] = next;
            }
        }
        assertThat(got).containsExactly(want);
    }

    @Test
    void concurrentGreedyStreamsGetTheirSoloTokens() throws Exception {
        int streams = 8;
        List<int[]> prompts = new ArrayList<>();
        List<int[]> solo = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
            int[] p = FusedGraphTest.tokens(500 + i, 1 + i * 3);
            p[0] = 1;
            prompts.add(p);
            solo.add(greedy(fused, p, 40 + 7 * i));
        }
        ExecutorService pool = Executors.newFixedThreadPool(streams);
        try {
            CyclicBarrier start = new CyclicBarrier(streams);
            List<Future<int[]>> got = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                int id = i;
                got.add(pool.submit(() -> {
                    start.await();
                    return greedy(fused, prompts.get(id), 40 + 7 * id);
                }));
            }
            for (int i = 0; i < streams; i++) {
                assertThat(got.get(i).get()).as("stream " + i).containsExactly(solo.get(i));
            }
            System.out.println("stories260K fused, " + streams + " streams: "
                    + ((OnnxDecoderBackend) fused).fused().stats());
        } finally {
            pool.shutdownNow();
        }
    }

    private static int[] greedy(ModelBackend m, int[] prompt, int n) {
        try (DecodeState s = m.newState(1)) {
            float[] logits = m.forward(ForwardRequest.next(new int[][] {prompt}, s)).last(0);
            int[] out = new int[n];
            for (int i = 0; i < n; i++) {
                out[i] = argmax(logits);
                logits = m.forward(ForwardRequest.next(new int[][] {{out[i]}}, s)).last(0);
            }
            return out;
        }
    }
}
