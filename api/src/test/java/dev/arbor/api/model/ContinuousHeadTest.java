package dev.arbor.api.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.OptionalInt;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ContinuousHeadTest {

    /** An embedding table whose row i is (i, 10·i, 100·i). */
    private static final EmbeddingAccess TABLE = new EmbeddingAccess() {
        @Override
        public float[] embedding(int tokenId) {
            return new float[] {tokenId, 10f * tokenId, 100f * tokenId};
        }

        @Override
        public int embeddingSize() {
            return 3;
        }
    };

    @Test
    void specRoundTripsAndBadSpecsNameTheForm() {
        ContinuousHead head = new ContinuousHead(16, ContinuousHead.Kind.VELOCITY, 0, 267, 284, 33);
        assertThat(head.spec()).isEqualTo("VELOCITY:16:0:267:284:33");
        assertThat(ContinuousHead.parse(head.spec())).isEqualTo(head);
        assertThat(ContinuousHead.parse("gaussian:4:0:8:-1:0").width()).isEqualTo(8);
        assertThatThrownBy(() -> ContinuousHead.parse("VELOCITY:16:0")).hasMessageContaining("KIND:dim");
        assertThatThrownBy(() -> ContinuousHead.parse("SIDEWAYS:1:0:0:-1:0")).hasMessageContaining("GAUSSIAN");
        assertThatThrownBy(() -> new ContinuousHead(4, ContinuousHead.Kind.VELOCITY, 0, 4, 8, 1))
                .hasMessageContaining("at least 2 timeSteps");
    }

    @Test
    void maxIdCoversOutputsBasisAndTime() {
        assertThat(new ContinuousHead(4, ContinuousHead.Kind.GAUSSIAN, 0, 20, -1, 0).maxId()).isEqualTo(24);
        assertThat(new ContinuousHead(4, ContinuousHead.Kind.GAUSSIAN, 30, 0, -1, 0).maxId()).isEqualTo(38);
        assertThat(new ContinuousHead(4, ContinuousHead.Kind.VELOCITY, 0, 4, 8, 5).maxId()).isEqualTo(13);
    }

    @Test
    void readCopiesTheHeadColumns() {
        ContinuousHead head = new ContinuousHead(2, ContinuousHead.Kind.GAUSSIAN, 3, 0, -1, 0);
        float[] row = {0, 1, 2, 3, 4, 5, 6, 7};
        assertThat(head.read(row, new float[4])).containsExactly(3, 4, 5, 6);
    }

    @Test
    void embedderAddsTheBasisMixtureAndInterpolatesTime() {
        // basis ids 1, 2; time ids 5, 6, 7 (t = 0, 0.5, 1)
        ContinuousHead head = new ContinuousHead(2, ContinuousHead.Kind.VELOCITY, 0, 1, 5, 3);
        ContinuousHead.Embedder embedder = head.embedder(TABLE);
        float[] dst = {1, 1, 1};
        embedder.add(new float[] {2, -1}, 0.75, dst);
        // 2·E[1] − E[2] = 0; t = 0.75 sits halfway between ids 6 and 7: 6.5 → (6.5, 65, 650); plus the initial 1
        assertThat(dst).containsExactly(7.5f, 66f, 651f);
        float[] clamped = new float[3];
        embedder.add(new float[] {0, 0}, 3.0, clamped);
        assertThat(clamped).containsExactly(7f, 70f, 700f);
        assertThatThrownBy(() -> embedder.add(new float[3], 0, new float[3])).hasMessageContaining("expected 2");
    }

    @Test
    void cardChecksHeadsAndContinuousHeadAgainstTheVocabulary() {
        ModelCard plain = new ModelCard("m", 12, 8, 0, OptionalInt.empty(), new int[0], OptionalInt.empty(),
                OptionalInt.empty(), null, null, 0, Set.of());
        assertThat(plain.outputHeads()).isEqualTo(1);
        assertThat(plain.continuousHead()).isNull();
        ModelCard shuffled = plain.withHeads(4, null);
        assertThat(shuffled.headVocabSize()).isEqualTo(3);
        assertThat(shuffled).isNotEqualTo(plain);
        assertThatThrownBy(() -> plain.withHeads(5, null)).hasMessageContaining("divide the vocabulary (12)");
        assertThatThrownBy(() -> plain.withHeads(1, new ContinuousHead(8, ContinuousHead.Kind.GAUSSIAN, 0, 0, -1, 0)))
                .hasMessageContaining("needs 16");
    }
}
