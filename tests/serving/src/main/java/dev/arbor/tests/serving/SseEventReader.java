package dev.arbor.tests.serving;

import java.io.BufferedReader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads server-sent events (WHATWG HTML "event stream" interpretation) from a line reader: {@code data:} lines are
 * joined with a newline, a blank line dispatches the event, lines starting with {@code :} are comments (keep-alives).
 * Unlike a browser it does not silently drop what an OpenAI stream never contains: any field other than
 * {@code data} is recorded as an anomaly, and an event left without its closing blank line at end of stream is
 * reported (a browser discards it; for us it is the signature of a cut-off response).
 */
public final class SseEventReader {
    private final BufferedReader lines;
    private final List<String> anomalies = new ArrayList<>();
    private boolean endOfStream;
    private boolean unterminatedEventAtEnd;

    public SseEventReader(BufferedReader lines) {
        this.lines = lines;
    }

    /** The next event's data, or null at end of stream. */
    public String next() throws IOException {
        StringBuilder data = null;
        while (true) {
            String line = lines.readLine();   // splits on \n, \r\n and \r, as the SSE grammar does
            if (line == null) {
                endOfStream = true;
                if (data != null) {
                    unterminatedEventAtEnd = true;
                }
                return null;
            }
            if (line.isEmpty()) {
                if (data != null) {
                    return data.toString();
                }
                continue;   // blank lines with no pending data dispatch nothing
            }
            if (line.startsWith(":")) {
                continue;
            }
            int colon = line.indexOf(':');
            String field = colon < 0 ? line : line.substring(0, colon);
            String value = colon < 0 ? "" : line.substring(colon + 1);
            if (value.startsWith(" ")) {
                value = value.substring(1);
            }
            if (field.equals("data")) {
                if (data == null) {
                    data = new StringBuilder(value);
                } else {
                    data.append('\n').append(value);
                }
            } else {
                anomalies.add("unexpected SSE field '" + field + "'" + (value.isEmpty() ? "" : ": " + value));
            }
        }
    }

    public boolean endOfStream() {
        return endOfStream;
    }

    /** True when data lines arrived at end of stream without the blank line that ends an event. */
    public boolean unterminatedEventAtEnd() {
        return unterminatedEventAtEnd;
    }

    public List<String> anomalies() {
        return anomalies;
    }
}
