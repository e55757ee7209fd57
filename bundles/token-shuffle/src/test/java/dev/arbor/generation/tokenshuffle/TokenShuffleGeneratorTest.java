package dev.arbor.generation.tokenshuffle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class TokenShuffleGeneratorTest {
    /** 7x7 codes (one pixel each), 12 codes, 3 classes: vocabulary 12 + 3 + 1 + 1 + 1 = 18 per slot. */
    static final ImageLayout LAYOUT = ToyImageTokenizer.layout(7, 12, 3, 1, 7);
    static final ToyImageTokenizer TOKENIZER = new ToyImageTokenizer(LAYOUT, 11);
    static final int V = LAYOUT.vocabSize();
    static final int BLANK = TOKENIZER.encodeImage(new float[7][7])[0];

    private final TokenShuffleGenerator generator = new TokenShuffleGenerator();

    static ToyWindowBackend toy(Capability... without) {
        return new ToyWindowBackend(V, LAYOUT.codes(), 4, 16, without);
    }

    static GenerationContext context(ModelBackend model, int cls, Map<String, ?> options, Cancellation cancel) {
        return new GenerationContext(model, TOKENIZER, new int[] {LAYOUT.classToken(cls)}, 64,
                () -> new Sampler(List.of(), TestSelectors.ARGMAX), null, 3, Options.of(options), cancel);
    }

    /**
     * The expected image, computed here without the generator's classes: window w of the 8x8 padded map covers
     * rows 2(w/4)..+1 and columns 2(w%4)..+1; the toy predicts window p from the class token and windows 0..p-1
     * (padding fed as the blank code); the image is the 7x7 crop in raster order. Also returns the inputs the toy
     * must have seen: the class token, then each window's ids in their slots (h·V + code).
     */
    static int[] expected(ToyWindowBackend toy, int cls, List<List<Integer>> inputs) {
        inputs.add(List.of(LAYOUT.classToken(cls)));
        int[] image = new int[49];
        for (int p = 0; p < 16; p++) {
            List<Integer> window = new ArrayList<>();
            for (int h = 0; h < 4; h++) {
                int y = (p / 4) * 2 + h / 2;
                int x = (p % 4) * 2 + h % 2;
                int code = y == 7 || x == 7 ? BLANK : toy.target(inputs, p, h);
                if (y < 7 && x < 7) {
                    image[y * 7 + x] = code;
                }
                window.add(h * V + code);
            }
            if (p < 15) {
                inputs.add(window);
            }
        }
        return image;
    }

    @Test
    void sixteenForwardsEachEmittingAWindowAndTheImageInRasterOrder() {
        ToyWindowBackend toy = toy();
        RecordingSink sink = new RecordingSink();
        GenerationResult got = generator.generate(context(toy, 2, Map.of("guidance_scale", 1.0),
                Cancellation.NEVER), sink);
        List<List<Integer>> inputs = new ArrayList<>();
        int[] want = expected(toy, 2, inputs);
        assertThat(got.tokens()).containsExactly(want);
        assertThat(sink.tokens()).containsExactly(want);
        assertThat(got.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(got.forwardPasses()).isEqualTo(16);
        assertThat(got.stats()).containsEntry("forwards", 16).containsEntry("cfg.mode", "none")
                .containsEntry("shuffle.window", 2).containsEntry("shuffle.windows", 16)
                .containsEntry("shuffle.blank_code", BLANK);
        List<ToyWindowBackend.Call> calls = toy.calls();
        assertThat(calls).hasSize(16);
        assertThat(calls.get(0).embeddings()).isFalse();
        for (int p = 0; p < 16; p++) {
            assertThat(calls.get(p).ids().get(0)).as("input of forward %d", p).isEqualTo(inputs.get(p));
            if (p > 0) {
                assertThat(calls.get(p).embeddings()).isTrue();
            }
        }
        // one canvas per row of windows: raster rows 0-1, 2-3, 4-5, 6 decoded, the rest masked
        assertThat(sink.canvases()).hasSize(4);
        int[] decoded = {14, 28, 42, 49};
        for (int k = 0; k < 4; k++) {
            RecordingSink.CanvasEvent c = sink.canvases().get(k);
            assertThat(c.step()).isEqualTo(k + 1);
            for (int i = 0; i < 49; i++) {
                assertThat(c.tokens()[i]).isEqualTo(i < decoded[k] ? want[i] : LAYOUT.nullClassToken());
            }
        }
    }

    @Test
    void guidanceRunsBatchTwoWithTheNullClassOrTwoStates() {
        ToyWindowBackend toy = toy();
        GenerationResult got = generator.generate(context(toy, 1, Map.of("guidance_scale", 3.0),
                Cancellation.NEVER), new RecordingSink());
        assertThat(got.tokens()).hasSize(49);
        assertThat(got.stats()).containsEntry("cfg.mode", "batch").containsEntry("cfg.guided_steps", 16);
        List<ToyWindowBackend.Call> calls = toy.calls();
        assertThat(calls).hasSize(16).allSatisfy(c -> assertThat(c.batch()).isEqualTo(2));
        assertThat(calls.get(0).ids()).containsExactly(List.of(LAYOUT.classToken(1)),
                List.of(LAYOUT.nullClassToken()));
        for (ToyWindowBackend.Call c : calls.subList(1, 16)) {
            assertThat(c.ids().get(1)).isEqualTo(c.ids().get(0));   // both rows take the same windows
        }
        ToyWindowBackend single = toy(Capability.BATCH);
        GenerationResult two = generator.generate(context(single, 1, Map.of("guidance_scale", 3.0),
                Cancellation.NEVER), new RecordingSink());
        assertThat(two.stats()).containsEntry("cfg.mode", "two_states").containsEntry("forwards", 32);
        assertThat(two.tokens()).containsExactly(got.tokens());
    }

    @Test
    void cancellationIsCheckedBetweenForwards() {
        ToyWindowBackend toy = toy();
        AtomicInteger checks = new AtomicInteger();
        Cancellation afterFive = () -> checks.incrementAndGet() > 5;
        GenerationResult got = generator.generate(context(toy, 0, Map.of("guidance_scale", 1.0), afterFive),
                new RecordingSink());
        assertThat(got.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(toy.calls()).hasSize(5);
        assertThat(got.tokens()).hasSize(14); // the first row of windows completed raster rows 0-1
    }

    @Test
    void refusesPriorsAndOptionsThatDoNotFit() {
        assertThatThrownBy(() -> generator.generate(context(toy(), 0, Map.of("window", 3), Cancellation.NEVER),
                new RecordingSink())).isInstanceOf(ArborException.class)
                .hasMessageContaining("window 3 does not match toy-shuffle").hasMessageContaining("set window to 2");
        assertThatThrownBy(() -> generator.generate(context(toy(), 0, Map.of("window", "two"), Cancellation.NEVER),
                new RecordingSink())).isInstanceOf(ArborException.class).hasMessageContaining("window");
        assertThatThrownBy(() -> generator.generate(context(toy(Capability.INPUT_EMBEDS), 0, Map.of(),
                Cancellation.NEVER), new RecordingSink())).isInstanceOf(ArborException.class)
                .hasMessageContaining("Capability.INPUT_EMBEDS");
        // one head: a raster prior
        ToyWindowBackend oneHead = new ToyWindowBackend(V, LAYOUT.codes(), 1, 64);
        assertThatThrownBy(() -> generator.generate(context(oneHead, 0, Map.of(), Cancellation.NEVER),
                new RecordingSink())).isInstanceOf(ArborException.class).hasMessageContaining("raster-ar");
        // 4 heads of the wrong width: not this tokenizer's prior
        ToyWindowBackend wide = new ToyWindowBackend(V + 2, LAYOUT.codes(), 4, 16);
        assertThatThrownBy(() -> generator.generate(context(wide, 0, Map.of(), Cancellation.NEVER),
                new RecordingSink())).isInstanceOf(ArborException.class).hasMessageContaining("needs 4 heads of 18");
        // a context too short for the 16 positions
        ToyWindowBackend shortContext = new ToyWindowBackend(V, LAYOUT.codes(), 4, 15);
        assertThatThrownBy(() -> generator.generate(context(shortContext, 0, Map.of(), Cancellation.NEVER),
                new RecordingSink())).isInstanceOf(ArborException.class).hasMessageContaining("needs 16");
    }
}
