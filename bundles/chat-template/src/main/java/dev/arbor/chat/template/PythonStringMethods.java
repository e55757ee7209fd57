package dev.arbor.chat.template;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python's {@code str} methods that chat templates call on message text ({@code content.startswith('...')},
 * {@code .rstrip('\n')}, {@code .split('</think>')}, ...), with Python's semantics: Jinjava would otherwise look for
 * Java methods of the same name, which either do not exist ({@code startswith}, {@code lstrip}, {@code upper}) or
 * mean something else ({@code split} takes a regular expression). Consulted before Jinjava's own resolvers, for
 * method calls on strings only; everything else falls through to them.
 */
final class PythonStringMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String s) || method == null) {
            return null;
        }
        Object[] args = params == null ? new Object[0] : params;
        Object result;
        switch (method.toString()) {
            case "startswith" -> result = args.length == 1 ? affix(s, args[0], true) : null;
            case "endswith" -> result = args.length == 1 ? affix(s, args[0], false) : null;
            case "strip" -> result = args.length <= 1 ? strip(s, chars(args), true, true) : null;
            case "lstrip" -> result = args.length <= 1 ? strip(s, chars(args), true, false) : null;
            case "rstrip" -> result = args.length <= 1 ? strip(s, chars(args), false, true) : null;
            case "upper" -> result = args.length == 0 ? s.toUpperCase(Locale.ROOT) : null;
            case "lower" -> result = args.length == 0 ? s.toLowerCase(Locale.ROOT) : null;
            case "capitalize" -> result = args.length == 0 ? capitalize(s) : null;
            case "title" -> result = args.length == 0 ? title(s) : null;
            case "split" -> result = args.length <= 2 ? split(s, args.length > 0 ? args[0] : null,
                    args.length > 1 ? ((Number) args[1]).intValue() : -1) : null;
            case "replace" -> result = args.length == 2 || args.length == 3 ? replace(s, String.valueOf(args[0]),
                    String.valueOf(args[1]), args.length == 3 ? ((Number) args[2]).intValue() : -1) : null;
            case "find" -> result = args.length == 1 ? (long) s.indexOf(String.valueOf(args[0])) : null;
            case "count" -> result = args.length == 1 ? (long) count(s, String.valueOf(args[0])) : null;
            case "join" -> result = args.length == 1 && args[0] instanceof Collection<?> items ? join(s, items) : null;
            default -> result = null;
        }
        if (result != null) {
            context.setPropertyResolved(true);
        }
        return result;
    }

    private static Boolean affix(String s, Object affix, boolean prefix) {
        if (affix instanceof Collection<?> options) { // Python takes a tuple of alternatives
            for (Object o : options) {
                if (prefix ? s.startsWith(String.valueOf(o)) : s.endsWith(String.valueOf(o))) {
                    return true;
                }
            }
            return false;
        }
        return prefix ? s.startsWith(String.valueOf(affix)) : s.endsWith(String.valueOf(affix));
    }

    /** The characters to strip, or null for whitespace (Python's default, also for an explicit None). */
    private static String chars(Object[] args) {
        return args.length == 0 || args[0] == null ? null : String.valueOf(args[0]);
    }

    static String strip(String s, String chars, boolean left, boolean right) {
        int from = 0;
        int to = s.length();
        while (left && from < to && strips(s.charAt(from), chars)) {
            from++;
        }
        while (right && to > from && strips(s.charAt(to - 1), chars)) {
            to--;
        }
        return s.substring(from, to);
    }

    private static boolean strips(char c, String chars) {
        return chars == null ? Character.isWhitespace(c) || Character.isSpaceChar(c) : chars.indexOf(c) >= 0;
    }

    private static String capitalize(String s) {
        return s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
    }

    private static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (char c : s.toCharArray()) {
            out.append(previousCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
            previousCased = Character.isLetter(c);
        }
        return out.toString();
    }

    /** Python's split: on runs of whitespace without a separator (no empty pieces), else on the literal text. */
    static List<String> split(String s, Object separator, int maxSplit) {
        List<String> out = new ArrayList<>();
        if (separator == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && Character.isWhitespace(s.charAt(i))) {
                    i++;
                }
                if (i == n) {
                    return out;
                }
                if (maxSplit >= 0 && out.size() == maxSplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    return out;
                }
                int j = i;
                while (j < n && !Character.isWhitespace(s.charAt(j))) {
                    j++;
                }
                out.add(s.substring(i, j));
                i = j;
            }
        }
        String sep = String.valueOf(separator);
        if (sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int from = 0;
        for (int at; (maxSplit < 0 || out.size() < maxSplit) && (at = s.indexOf(sep, from)) >= 0; from = at
                + sep.length()) {
            out.add(s.substring(from, at));
        }
        out.add(s.substring(from));
        return out;
    }

    private static String replace(String s, String old, String replacement, int count) {
        if (count < 0) {
            return s.replace(old, replacement);
        }
        StringBuilder out = new StringBuilder();
        int from = 0;
        int done = 0;
        for (int at; done < count && (at = s.indexOf(old, from)) >= 0; done++) {
            out.append(s, from, at).append(replacement);
            from = at + old.length();
            if (old.isEmpty()) {
                break;
            }
        }
        return out.append(s.substring(from)).toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.length() + 1;
        }
        int n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
            n++;
        }
        return n;
    }

    private static String join(String separator, Collection<?> items) {
        StringBuilder out = new StringBuilder();
        for (Iterator<?> it = items.iterator(); it.hasNext(); ) {
            out.append(it.next());
            if (it.hasNext()) {
                out.append(separator);
            }
        }
        return out.toString();
    }

    // ---------------------------------------------------------------- properties: not this resolver's business

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        // never resolves a property
    }
}
