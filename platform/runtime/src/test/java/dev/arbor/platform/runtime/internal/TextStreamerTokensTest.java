package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.pipeline.ScoredToken;
import dev.arbor.api.pipeline.TextSink;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Tokens with their bytes and alternatives reach the sink's onToken, one call per token, with the text deltas. */
class TextStreamerTokensTest {

    @Test
    void eachTokenArrivesOnceWithItsOwnBytesWhateverTheDeltaHoldsBack() {
        List<String> seen = new ArrayList<>();
        TextSink sink = new TextSink() {
            @Override
            public boolean onText(String delta, int token) {
                seen.add("text:" + token + ":" + delta);
                return true;
            }

            @Override
            public boolean onToken(String delta, ScoredToken chosen, List<ScoredToken> alternatives) {
                seen.add("token:" + chosen.id() + ":" + delta + ":" + chosen.text() + ":" + alternatives.size());
                return true;
            }
        };
        TextStreamer s = new TextStreamer(TextStreamerTest.BYTES, new int[] {256}, List.of("!"), sink);
        byte[] e = "é".getBytes(StandardCharsets.UTF_8); // two byte tokens: the first completes nothing
        ScoredToken alt = new ScoredToken(65, new byte[] {65}, -3.0);
        assertThat(s.accept(new ScoredToken(e[0] & 0xff, new byte[] {e[0]}, -0.5), List.of(alt))).isTrue();
        assertThat(s.accept(new ScoredToken(e[1] & 0xff, new byte[] {e[1]}, -0.1), List.of())).isTrue();
        assertThat(s.accept(new ScoredToken('!', new byte[] {'!'}, -0.2), List.of(alt, alt))).isFalse();
        assertThat(seen).containsExactly(
                "token:" + (e[0] & 0xff) + "::bytes:\\xc3:1",
                "token:" + (e[1] & 0xff) + ":é:bytes:\\xa9:0",
                "token:33::!:2"); // the stop string itself is never returned, its token still reported
        assertThat(s.finish()).isEqualTo("é");
    }
}
