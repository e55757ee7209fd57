package dev.arbor.api;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * An immutable map of method-specific knobs (from a pipeline file, a request or the CLI) with typed getters
 * that validate eagerly: a wrong value fails with a message naming the key, the value and what is allowed.
 */
public final class Options {
    private static final Options EMPTY = new Options(Map.of());
    private final Map<String, Object> values;

    private Options(Map<String, Object> values) {
        this.values = values;
    }

    public static Options empty() {
        return EMPTY;
    }

    /** Copies {@code values}; null values are dropped so that "absent" has one meaning. */
    public static Options of(Map<String, ?> values) {
        if (values == null || values.isEmpty()) {
            return EMPTY;
        }
        Map<String, Object> copy = new LinkedHashMap<>();
        values.forEach((k, v) -> {
            if (v != null) {
                copy.put(k, v);
            }
        });
        return new Options(Collections.unmodifiableMap(copy));
    }

    /** Returns options where every key of {@code overrides} replaces the same key here. */
    public Options with(Options overrides) {
        if (overrides.values.isEmpty()) {
            return this;
        }
        Map<String, Object> merged = new LinkedHashMap<>(values);
        merged.putAll(overrides.values);
        return new Options(Collections.unmodifiableMap(merged));
    }

    public Options with(String key, Object value) {
        Map<String, Object> merged = new LinkedHashMap<>(values);
        if (value == null) {
            merged.remove(key);
        } else {
            merged.put(key, value);
        }
        return new Options(Collections.unmodifiableMap(merged));
    }

    public Map<String, Object> asMap() {
        return values;
    }

    public boolean has(String key) {
        return values.containsKey(key);
    }

    public Optional<Object> raw(String key) {
        return Optional.ofNullable(values.get(key));
    }

    public String string(String key, String fallback) {
        Object v = values.get(key);
        return v == null ? fallback : v.toString();
    }

    public boolean bool(String key, boolean fallback) {
        Object v = values.get(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        String s = v.toString().trim().toLowerCase(java.util.Locale.ROOT);
        if (s.equals("true") || s.equals("false")) {
            return Boolean.parseBoolean(s);
        }
        throw ArborException.invalid("option '" + key + "' must be true or false, got '" + v + "'");
    }

    /** A double in [min, max]; NaN and infinities are refused. */
    public double number(String key, double fallback, double min, double max) {
        Object v = values.get(key);
        if (v == null) {
            return fallback;
        }
        double d;
        if (v instanceof Number n) {
            d = n.doubleValue();
        } else {
            try {
                d = Double.parseDouble(v.toString().trim());
            } catch (NumberFormatException e) {
                throw ArborException.invalid("option '" + key + "' must be a number, got '" + v + "'");
            }
        }
        if (!Double.isFinite(d) || d < min || d > max) {
            throw ArborException.invalid("option '" + key + "' must be between " + min + " and " + max + ", got " + v);
        }
        return d;
    }

    /** An integer in [min, max]. */
    public int integer(String key, int fallback, int min, int max) {
        Object v = values.get(key);
        if (v == null) {
            return fallback;
        }
        long l;
        if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
            l = ((Number) v).longValue();
        } else {
            String s = v.toString().trim();
            try {
                double d = Double.parseDouble(s);
                if (d != Math.rint(d)) {
                    throw new NumberFormatException();
                }
                l = (long) d;
            } catch (NumberFormatException e) {
                throw ArborException.invalid("option '" + key + "' must be an integer, got '" + v + "'");
            }
        }
        if (l < min || l > max) {
            throw ArborException.invalid("option '" + key + "' must be between " + min + " and " + max + ", got " + v);
        }
        return (int) l;
    }

    /** A long (seeds). */
    public Optional<Long> longValue(String key) {
        Object v = values.get(key);
        if (v == null) {
            return Optional.empty();
        }
        if (v instanceof Number n && !(v instanceof Double || v instanceof Float)) {
            return Optional.of(n.longValue());
        }
        try {
            return Optional.of(Long.parseLong(v.toString().trim()));
        } catch (NumberFormatException e) {
            throw ArborException.invalid("option '" + key + "' must be an integer, got '" + v + "'");
        }
    }

    /** A list of strings; a single string is read as a one-element list, a comma-free form is kept whole. */
    public List<String> strings(String key) {
        Object v = values.get(key);
        if (v == null) {
            return List.of();
        }
        if (v instanceof List<?> list) {
            return list.stream().map(Objects::toString).toList();
        }
        if (v instanceof String[] arr) {
            return List.of(arr);
        }
        return List.of(v.toString());
    }

    /** A list of integers (token ids); accepts a list, an int array or a comma-separated string. */
    public int[] integers(String key) {
        Object v = values.get(key);
        if (v == null) {
            return new int[0];
        }
        if (v instanceof int[] arr) {
            return arr.clone();
        }
        List<?> items;
        if (v instanceof List<?> list) {
            items = list;
        } else {
            String s = v.toString().trim();
            items = s.isEmpty() ? List.of() : List.of(s.split("\\s*,\\s*"));
        }
        int[] out = new int[items.size()];
        for (int i = 0; i < out.length; i++) {
            Object item = items.get(i);
            try {
                out[i] = item instanceof Number n ? n.intValue() : Integer.parseInt(item.toString().trim());
            } catch (NumberFormatException e) {
                throw ArborException.invalid("option '" + key + "' must be a list of integers, got '" + v + "'");
            }
        }
        return out;
    }

    /** A map (for nested options such as a logit-bias table). */
    @SuppressWarnings("unchecked")
    public Map<String, Object> map(String key) {
        Object v = values.get(key);
        if (v == null) {
            return Map.of();
        }
        if (v instanceof Map<?, ?> m) {
            return (Map<String, Object>) m;
        }
        throw ArborException.invalid("option '" + key + "' must be an object, got '" + v + "'");
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Options other && other.values.equals(values);
    }

    @Override
    public int hashCode() {
        return values.hashCode();
    }

    @Override
    public String toString() {
        return values.toString();
    }
}
