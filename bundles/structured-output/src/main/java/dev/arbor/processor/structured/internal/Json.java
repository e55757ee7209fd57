package dev.arbor.processor.structured.internal;

import dev.arbor.api.ArborException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The small JSON reader and writer the schema front end needs (a bundle without a JSON library): objects become
 * {@link LinkedHashMap}s (declared order is kept, it orders the properties), arrays {@link List}s, numbers
 * {@link BigDecimal}s, and null {@link #NULL}.
 */
final class Json {
    /** JSON null (maps cannot hold Java null as a value the caller can tell from absence). */
    static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };
    private static final int MAX_DEPTH = 256;
    private final String text;
    private int pos;

    private Json(String text) {
        this.text = text;
    }

    /** Parses {@code text}; {@code what} names the option in errors. */
    static Object parse(String text, String what) {
        Json json = new Json(text);
        json.space();
        Object value = json.value(what, 0);
        json.space();
        if (json.pos != text.length()) {
            throw json.error(what, "unexpected text after the JSON value");
        }
        return value;
    }

    private Object value(String what, int depth) {
        if (depth > MAX_DEPTH) {
            throw error(what, "nested deeper than " + MAX_DEPTH);
        }
        if (pos >= text.length()) {
            throw error(what, "unexpected end of text");
        }
        char c = text.charAt(pos);
        switch (c) {
            case '{' -> {
                pos++;
                Map<String, Object> map = new LinkedHashMap<>();
                space();
                if (peek('}')) {
                    pos++;
                    return map;
                }
                while (true) {
                    space();
                    if (!peek('"')) {
                        throw error(what, "expected a string key");
                    }
                    String key = string(what);
                    space();
                    expect(':', what);
                    space();
                    if (map.put(key, value(what, depth + 1)) != null) {
                        throw error(what, "duplicate key \"" + key + "\"");
                    }
                    space();
                    if (peek(',')) {
                        pos++;
                        continue;
                    }
                    expect('}', what);
                    return map;
                }
            }
            case '[' -> {
                pos++;
                List<Object> list = new ArrayList<>();
                space();
                if (peek(']')) {
                    pos++;
                    return list;
                }
                while (true) {
                    space();
                    list.add(value(what, depth + 1));
                    space();
                    if (peek(',')) {
                        pos++;
                        continue;
                    }
                    expect(']', what);
                    return list;
                }
            }
            case '"' -> {
                return string(what);
            }
            default -> {
                if (text.startsWith("true", pos)) {
                    pos += 4;
                    return Boolean.TRUE;
                }
                if (text.startsWith("false", pos)) {
                    pos += 5;
                    return Boolean.FALSE;
                }
                if (text.startsWith("null", pos)) {
                    pos += 4;
                    return NULL;
                }
                int start = pos;
                while (pos < text.length() && "+-0123456789.eE".indexOf(text.charAt(pos)) >= 0) {
                    pos++;
                }
                try {
                    return new BigDecimal(text.substring(start, pos));
                } catch (NumberFormatException e) {
                    pos = start;
                    throw error(what, "expected a JSON value");
                }
            }
        }
    }

    private String string(String what) {
        pos++;
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (pos >= text.length()) {
                throw error(what, "unterminated string");
            }
            char c = text.charAt(pos++);
            if (c == '"') {
                return sb.toString();
            }
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            if (pos >= text.length()) {
                throw error(what, "unterminated string");
            }
            char e = text.charAt(pos++);
            switch (e) {
                case '"', '\\', '/' -> sb.append(e);
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'u' -> {
                    if (pos + 4 > text.length()) {
                        throw error(what, "\\u needs four hex digits");
                    }
                    try {
                        sb.append((char) Integer.parseInt(text.substring(pos, pos + 4), 16));
                    } catch (NumberFormatException ex) {
                        throw error(what, "\\u needs four hex digits");
                    }
                    pos += 4;
                }
                default -> throw error(what, "unknown escape \\" + e);
            }
        }
    }

    private boolean peek(char c) {
        return pos < text.length() && text.charAt(pos) == c;
    }

    private void expect(char c, String what) {
        if (!peek(c)) {
            throw error(what, "expected '" + c + "'");
        }
        pos++;
    }

    private void space() {
        while (pos < text.length() && " \t\r\n".indexOf(text.charAt(pos)) >= 0) {
            pos++;
        }
    }

    private ArborException error(String what, String message) {
        return ArborException.invalid(what + ": not valid JSON at character " + pos + ": " + message);
    }

    /** Compact JSON of a value read by {@link #parse} (or built from maps, lists, strings, numbers, booleans). */
    static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, sb);
        return sb.toString();
    }

    private static void write(Object value, StringBuilder sb) {
        if (value == null || value == NULL) {
            sb.append("null");
        } else if (value instanceof String s) {
            quote(s, sb);
        } else if (value instanceof Boolean b) {
            sb.append(b);
        } else if (value instanceof BigDecimal d) {
            sb.append(d.toString());
        } else if (value instanceof Number n) {
            sb.append(n instanceof Double || n instanceof Float ? new BigDecimal(n.toString()).toString() : n);
        } else if (value instanceof Map<?, ?> map) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                sb.append(first ? "" : ",");
                first = false;
                quote(String.valueOf(e.getKey()), sb);
                sb.append(':');
                write(e.getValue(), sb);
            }
            sb.append('}');
        } else if (value instanceof List<?> list) {
            sb.append('[');
            for (int i = 0; i < list.size(); i++) {
                sb.append(i == 0 ? "" : ",");
                write(list.get(i), sb);
            }
            sb.append(']');
        } else {
            throw new IllegalArgumentException("not a JSON value: " + value.getClass());
        }
    }

    static void quote(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
