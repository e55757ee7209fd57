package dev.arbor.tests.serving;

import static dev.arbor.tests.serving.FakeCompletionServer.chunk;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The validator's power: each way a stream can be cut off or corrupted is caught, and a correct one passes. */
class CompletionStreamValidatorTest {

    /** A correct stream of {@code n} one-word tokens with finish reason {@code reason}, as raw SSE text. */
    private static List<String> events(int n, String reason, boolean usage) {
        List<String> events = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            events.add(chunk("w" + i + " ", i == n - 1 ? reason : null).toString());
        }
        if (usage) {
            var u = chunk(null, null);
            u.putArray("choices");
            u.putObject("usage").put("completion_tokens", n);
            events.add(u.toString());
        }
        events.add("[DONE]");
        return events;
    }

    private static String sse(List<String> events) {
        StringBuilder s = new StringBuilder();
        events.forEach(e -> s.append("data: ").append(e).append("\n\n"));
        return s.toString();
    }

    private static CompletionStreamValidator.Verdict judge(String raw, int maxTokens, Set<String> expected)
            throws IOException {
        SseEventReader reader = new SseEventReader(new BufferedReader(new StringReader(raw)));
        CompletionStreamValidator v = new CompletionStreamValidator("stories260k", maxTokens, expected);
        for (String data; (data = reader.next()) != null; ) {
            v.accept(data);
        }
        return v.finish(reader);
    }

    @Test
    void aCorrectStreamPasses() throws IOException {
        assertThat(judge(sse(events(4, "length", true)), 4, Set.of()).outcome()).isEqualTo(Outcome.OK);
        assertThat(judge(sse(events(4, "length", false)), 4, Set.of()).outcome()).isEqualTo(Outcome.OK);
        assertThat(judge(sse(events(3, "stop", true)), 4, Set.of("w0 w1 w2 ")).outcome()).isEqualTo(Outcome.OK);
        // CRLF line ends, a keep-alive comment and "data:" without its optional space are all valid SSE
        String crlf = ": keep-alive\r\n\r\n" + sse(events(2, "length", true)).replace("\n", "\r\n")
                .replaceFirst("data: ", "data:");
        assertThat(judge(crlf, 2, Set.of()).outcome()).isEqualTo(Outcome.OK);
    }

    @Test
    void missingDoneIsTruncated() throws IOException {
        List<String> e = events(4, "length", true);
        e.remove("[DONE]");
        var verdict = judge(sse(e), 4, Set.of());
        assertThat(verdict.outcome()).isEqualTo(Outcome.TRUNCATED);
        assertThat(verdict.problem()).contains("without [DONE]");
    }

    @Test
    void missingFinishReasonIsTruncated() throws IOException {
        var verdict = judge(sse(events(4, null, true)), 4, Set.of());
        assertThat(verdict.outcome()).isEqualTo(Outcome.TRUNCATED);
        assertThat(verdict.problem()).contains("no finish_reason");
    }

    @Test
    void fewerTokensThanMaxTokensWithFinishReasonLengthIsTruncated() throws IOException {
        // by usage
        assertThat(judge(sse(events(3, "length", true)), 4, Set.of()).problem())
                .contains("usage.completion_tokens = 3 of max_tokens 4");
        // and, without a usage chunk, by counting chunks
        var verdict = judge(sse(events(3, "length", false)), 4, Set.of());
        assertThat(verdict.outcome()).isEqualTo(Outcome.TRUNCATED);
        assertThat(verdict.problem()).contains("non-empty chunks = 3 of max_tokens 4");
    }

    @Test
    void anEventCutOffAtEndOfStreamIsTruncated() throws IOException {
        String raw = sse(events(2, "length", true).subList(0, 1)) + "data: {\"id\":";
        var verdict = judge(raw, 2, Set.of());
        assertThat(verdict.outcome()).isEqualTo(Outcome.TRUNCATED);
        assertThat(verdict.problem()).contains("inside an event");
    }

    @Test
    void malformedJsonIsMalformed() throws IOException {
        List<String> e = events(4, "length", true);
        e.set(1, "{\"id\": \"cmpl-1\", \"choices\": [");
        var verdict = judge(sse(e), 4, Set.of());
        assertThat(verdict.outcome()).isEqualTo(Outcome.MALFORMED);
        assertThat(verdict.problem()).contains("event 2 is not JSON");
    }

    @Test
    void wrongChunkShapesAreMalformed() throws IOException {
        List<String> noText = events(2, "length", true);
        noText.set(0, "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":\"stories260k\",\"choices\":[{\"index\":0}]}");
        assertThat(judge(sse(noText), 2, Set.of()).problem()).contains("no string choices[0].text");

        List<String> otherId = events(2, "length", true);
        otherId.set(1, otherId.get(1).replace("cmpl-1", "cmpl-2"));
        assertThat(judge(sse(otherId), 2, Set.of()).problem()).contains("has id 'cmpl-2'");

        List<String> badReason = events(2, "content_filter", true);
        assertThat(judge(sse(badReason), 2, Set.of()).outcome()).isIn(Outcome.MALFORMED, Outcome.TRUNCATED);
        assertThat(judge(sse(badReason), 2, Set.of()).problem()).contains("finish_reason \"content_filter\"");

        String field = "event: error\n" + sse(events(2, "length", true));
        assertThat(judge(field, 2, Set.of()).problem()).contains("unexpected SSE field 'event'");
    }

    @Test
    void eventsAfterDoneAndDoubleDoneAreMalformed() throws IOException {
        List<String> twice = events(2, "length", true);
        twice.add("[DONE]");
        var verdict = judge(sse(twice), 2, Set.of());
        assertThat(verdict.outcome()).isEqualTo(Outcome.MALFORMED);
        assertThat(verdict.problem()).contains("[DONE] sent 2 times").contains("events after [DONE]");
    }

    @Test
    void textAfterTheFinishReasonIsMalformed() throws IOException {
        List<String> e = events(3, "length", false);
        e.add(3, chunk("late ", null).toString());   // after the finish_reason chunk, before [DONE]
        assertThat(judge(sse(e), 4, Set.of()).problem()).contains("text after the finish_reason chunk");
    }

    @Test
    void emptyTextIsMalformedAndMoreTokensThanAllowedToo() throws IOException {
        List<String> empty = List.of(chunk("", "stop").toString(), "[DONE]");
        assertThat(judge(sse(empty), 4, Set.of()).problem()).contains("empty text");
        assertThat(judge(sse(events(5, "length", true)), 4, Set.of()).problem())
                .contains("usage.completion_tokens = 5 > max_tokens 4");
    }

    @Test
    void expectedTextsCatchPrefixesAsTruncationAndOtherTextAsWrong() throws IOException {
        // finish reason "stop" after 2 tokens where the reference ran on: cut short by something
        var prefix = judge(sse(events(2, "stop", true)), 4, Set.of("w0 w1 w2 w3 "));
        assertThat(prefix.outcome()).isEqualTo(Outcome.TRUNCATED);
        assertThat(prefix.problem()).contains("strict prefix");
        var other = judge(sse(events(2, "stop", true)), 4, Set.of("something else"));
        assertThat(other.outcome()).isEqualTo(Outcome.MALFORMED);
        assertThat(other.problem()).contains("matches no expected text");
    }
}
