package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TextStreamerTest {

    /** A byte-level tokenizer (id = byte, 256 = BOS) whose decode renders invalid UTF-8 as U+FFFD, like real ones. */
    static final Tokenizer BYTES = new Tokenizer() {
        @Override
        public int[] encode(String text, boolean addSpecialTokens) {
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            int[] ids = new int[b.length + (addSpecialTokens ? 1 : 0)];
            int o = 0;
            if (addSpecialTokens) {
                ids[o++] = 256;
            }
            for (byte x : b) {
                ids[o++] = x & 0xff;
            }
            return ids;
        }

        @Override
        public String decode(int[] ids) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (int id : ids) {
                if (id < 256) {
                    out.write(id);
                }
            }
            return out.toString(StandardCharsets.UTF_8);
        }

        @Override
        public int vocabSize() {
            return 257;
        }
    };

    static String stream(String text, List<String> stops, List<String> pieces, boolean[] stoppedEarly) {
        int[] ids = BYTES.encode(text, false);
        TextStreamer s = new TextStreamer(BYTES, new int[] {256}, stops, (delta, token) -> {
            pieces.add(delta);
            return true;
        });
        for (int id : ids) {
            if (!s.accept(id)) {
                stoppedEarly[0] = true;
                break;
            }
        }
        return s.finish();
    }

    @Test
    void multiByteCharactersAreNeverSplitAcrossPieces() {
        List<String> pieces = new ArrayList<>();
        String text = stream("héllo 世界 🙂!", List.of(), pieces, new boolean[1]);
        assertThat(text).isEqualTo("héllo 世界 🙂!");
        assertThat(String.join("", pieces)).isEqualTo(text);
        assertThat(pieces).noneMatch(p -> p.contains("\uFFFD"));
    }

    @Test
    void stopStringEndsTheTextBeforeItAndIsNotReturned() {
        List<String> pieces = new ArrayList<>();
        boolean[] stopped = new boolean[1];
        String text = stream("one. two. three.", List.of(" two"), pieces, stopped);
        assertThat(text).isEqualTo("one.");
        assertThat(String.join("", pieces)).isEqualTo("one.");
        assertThat(stopped[0]).isTrue();
    }

    @Test
    void partialStopStringIsHeldBackThenReleasedWhenItDoesNotComplete() {
        List<String> pieces = new ArrayList<>();
        String text = stream("abc ab", List.of("abd"), pieces, new boolean[1]);
        assertThat(text).isEqualTo("abc ab");
        assertThat(String.join("", pieces)).isEqualTo("abc ab");
        // "ab" at the end could have become "abd": it must not have been streamed before finish()
        assertThat(pieces.get(pieces.size() - 1)).isEqualTo("ab");
    }

    @Test
    void earliestOfSeveralStopStringsWins() {
        List<String> pieces = new ArrayList<>();
        String text = stream("xx END yy STOP", List.of("STOP", "END"), pieces, new boolean[1]);
        assertThat(text).isEqualTo("xx ");
    }
}
