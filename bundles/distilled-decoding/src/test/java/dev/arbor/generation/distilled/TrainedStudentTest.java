package dev.arbor.generation.distilled;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.models.images.VqImageTokenizer;
import dev.arbor.models.llama2c.Llama2cModelCard;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.testkit.TestSelectors;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The committed student (models/trained/fashion-dd) through the generator on the reference model (under the
 * checkpoint's sidecar card, as the backends read it): the card is a student's (alignment SAME, attention BIDIRECTIONAL), one and two steps take one and two forwards of the whole
 * image, the same seed gives the same image, the two-step image keeps the one-step tokens before the split, and
 * different seeds give different images.
 */
class TrainedStudentTest {
    static final Path MODELS = Path.of("../../models/trained").toAbsolutePath().normalize();
    static Llama2cReferenceModel reference;
    static ModelBackend model;
    static VqImageTokenizer tokenizer;
    private final DistilledDecodingGenerator generator = new DistilledDecodingGenerator();

    @BeforeAll
    static void open() {
        Path bin = MODELS.resolve("fashion-dd/fashion-dd.bin");
        reference = Llama2cReferenceModel.open(bin);
        model = withCard(reference, Llama2cModelCard.forCheckpoint(bin));
        tokenizer = VqImageTokenizer.read(MODELS.resolve("fashion-vq/fashion-patch-vq.bin"),
                VqImageTokenizer.FASHION_CLASSES);
    }

    @AfterAll
    static void close() {
        reference.close();
    }

    /** The reference model under the alignment and attention of the checkpoint's sidecar card. */
    static ModelBackend withCard(Llama2cReferenceModel ref, Llama2cModelCard sidecar) {
        ModelCard c = ref.card();
        ModelCard card = new ModelCard(sidecar.name(), c.vocabSize(), c.maxPositions(), c.hiddenSize(),
                OptionalInt.empty(), new int[0], OptionalInt.empty(), OptionalInt.empty(), sidecar.alignment(),
                sidecar.attention(), 0, EnumSet.allOf(Capability.class));
        return new ModelBackend() {
            @Override
            public ModelCard card() {
                return card;
            }

            @Override
            public DecodeState newState(int batchSize) {
                return ref.newState(batchSize);
            }

            @Override
            public ForwardResult forward(ForwardRequest request) {
                return ref.forward(request);
            }

            @Override
            public <T> Optional<T> extension(Class<T> type) {
                return ref.extension(type);
            }

            @Override
            public void close() {
            }
        };
    }

    GenerationResult generate(int cls, long seed, String tList) {
        ImageLayout layout = tokenizer.layout();
        GenerationContext c = new GenerationContext(model, tokenizer, new int[] {layout.classToken(cls)}, 49,
                () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF), null, seed,
                Options.of(Map.of("t_list", tList)), Cancellation.NEVER);
        return generator.generate(c, TokenSink.DISCARD);
    }

    @Test
    void theStudentsCardAndStepCounts() {
        assertThat(model.card().alignment()).isEqualTo(LogitAlignment.SAME);
        assertThat(model.card().nativeAttention()).isEqualTo(NativeAttention.BIDIRECTIONAL);
        GenerationResult one = generate(3, 17, "0");
        GenerationResult two = generate(3, 17, "0,24");
        assertThat(one.forwardPasses()).isEqualTo(1);
        assertThat(two.forwardPasses()).isEqualTo(2);
        assertThat(one.tokens()).hasSize(49);
        assertThat(two.tokens()).hasSize(49);
        assertThat(Arrays.copyOf(two.tokens(), 24)).containsExactly(Arrays.copyOf(one.tokens(), 24));
        assertThat(tokenizer.decodeImage(two.tokens())).hasNumberOfRows(28);
    }

    @Test
    void sameSeedSameImageOtherSeedOtherImage() {
        for (String t : new String[] {"0", "0,24"}) {
            GenerationResult a = generate(7, 5, t);
            assertThat(generate(7, 5, t).tokens()).as("t_list %s", t).containsExactly(a.tokens());
            assertThat(generate(7, 6, t).tokens()).as("t_list %s", t).isNotEqualTo(a.tokens());
        }
    }
}
