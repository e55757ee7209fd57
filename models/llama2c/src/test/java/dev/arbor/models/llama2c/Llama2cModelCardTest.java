package dev.arbor.models.llama2c;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2cModelCardTest {
    @TempDir
    Path dir;

    private Path withCard(String json) throws IOException {
        Files.writeString(dir.resolve("m.card.json"), json);
        return dir.resolve("m.bin");
    }

    @Test
    void withoutSidecarTheFactsAreRunC() {
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(dir.resolve("stories.bin"));
        assertThat(card.bos()).hasValue(1);
        assertThat(card.eos()).containsExactly(1);
        assertThat(card.mask()).isEmpty();
        assertThat(card.alignment()).isEqualTo(LogitAlignment.NEXT);
        assertThat(card.attention()).isEqualTo(NativeAttention.CAUSAL);
        assertThat(card.sha256()).isEmpty();
    }

    @Test
    void sidecarIsReadAndUnknownFieldsIgnored() throws IOException {
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(withCard("{\"name\": \"bd\", \"bos\": 1, \"eos\": [2, 5],"
                + " \"pad\": null, \"mask\": 3, \"alignment\": \"same\", \"attention\": \"BLOCK_CAUSAL\","
                + " \"block_size\": 8, \"training\": {\"steps\": 10}}"));
        assertThat(card.name()).isEqualTo("bd");
        assertThat(card.eos()).containsExactly(2, 5);
        assertThat(card.pad()).isEmpty();
        assertThat(card.mask()).hasValue(3);
        assertThat(card.alignment()).isEqualTo(LogitAlignment.SAME);
        assertThat(card.attention()).isEqualTo(NativeAttention.BLOCK_CAUSAL);
        assertThat(card.blockSize()).isEqualTo(8);
        assertThat(card.sha256()).hasSize(64);
    }

    @Test
    void scaleCausalNeedsNoBlockSizeAndRefusesOne() throws IOException {
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(withCard("{\"name\": \"var\", \"alignment\": "
                + "\"SAME\", \"attention\": \"SCALE_CAUSAL\", \"image\": {\"layout\": \"next-scale\"}}"));
        assertThat(card.attention()).isEqualTo(NativeAttention.SCALE_CAUSAL);
        assertThat(card.alignment()).isEqualTo(LogitAlignment.SAME);
        assertThat(card.blockSize()).isZero();
        assertThatThrownBy(() -> Llama2cModelCard.forCheckpoint(withCard("{\"attention\": \"SCALE_CAUSAL\", "
                + "\"block_size\": 4}"))).isInstanceOf(ArborException.class).hasMessageContaining("'block_size'")
                .hasMessageContaining("SCALE_CAUSAL");
    }

    @Test
    void outputHeadsAndContinuousHeadAreRead() throws IOException {
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(withCard("{\"output_heads\": 4, "
                + "\"continuous_head\": \"GAUSSIAN:16:0:267:-1:0\"}"));
        assertThat(card.outputHeads()).isEqualTo(4);
        assertThat(card.continuousHead()).isEqualTo(new ContinuousHead(16, ContinuousHead.Kind.GAUSSIAN, 0, 267, -1, 0));
        assertThat(Llama2cModelCard.forCheckpoint(withCard("{}")).outputHeads()).isEqualTo(1);
        assertThatThrownBy(() -> Llama2cModelCard.forCheckpoint(withCard("{\"output_heads\": 0}")))
                .isInstanceOf(ArborException.class).hasMessageContaining("'output_heads'");
        assertThatThrownBy(() -> Llama2cModelCard.forCheckpoint(withCard("{\"continuous_head\": \"VELOCITY:2\"}")))
                .isInstanceOf(ArborException.class).hasMessageContaining("'continuous_head'")
                .hasMessageContaining("KIND:dim");
        Llama2cConfig config = new Llama2cConfig(8, 16, 1, 2, 2, 64, 16, true);
        assertThatThrownBy(() -> Llama2cModelCard.forCheckpoint(withCard("{\"output_heads\": 3}"))
                .validateAgainst(config, "m.bin")).isInstanceOf(ArborException.class)
                .hasMessageContaining("does not divide");
        assertThatThrownBy(() -> Llama2cModelCard.forCheckpoint(withCard("{\"continuous_head\": "
                + "\"VELOCITY:16:0:60:-1:0\"}")).validateAgainst(config, "m.bin")).isInstanceOf(ArborException.class)
                .hasMessageContaining("[0, 64)");
    }

    @Test
    void malformedSidecarsNameFileAndField() throws IOException {
        assertThatThrownBy(() -> Llama2cModelCard.forCheckpoint(withCard("{\"attention\": \"SIDEWAYS\"}")))
                .isInstanceOf(ArborException.class).hasMessageContaining("m.card.json")
                .hasMessageContaining("'attention'").hasMessageContaining("BIDIRECTIONAL");
        assertThatThrownBy(() -> Llama2cModelCard.forCheckpoint(withCard("{\"attention\": \"BLOCK_CAUSAL\"}")))
                .isInstanceOf(ArborException.class).hasMessageContaining("'block_size'");
        assertThatThrownBy(() -> Llama2cModelCard.forCheckpoint(withCard("{\"mask\": -4}")))
                .isInstanceOf(ArborException.class).hasMessageContaining("'mask'");
        assertThatThrownBy(() -> Llama2cModelCard.forCheckpoint(withCard("{\"eos\": [1, \"x\"]}")))
                .isInstanceOf(ArborException.class).hasMessageContaining("'eos'");
        assertThatThrownBy(() -> Llama2cModelCard.forCheckpoint(withCard("{oops")))
                .isInstanceOf(ArborException.class).hasMessageContaining("not valid JSON");
    }

    @Test
    void idsAreCheckedAgainstTheVocabulary() throws IOException {
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(withCard("{\"mask\": 64}"));
        Llama2cConfig config = new Llama2cConfig(8, 16, 1, 2, 2, 64, 16, true);
        assertThatThrownBy(() -> card.validateAgainst(config, "m.bin")).isInstanceOf(ArborException.class)
                .hasMessageContaining("mask id 64").hasMessageContaining("[0, 64)");
    }
}
