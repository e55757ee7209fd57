package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import java.util.Set;

/**
 * Wrappers that turn a plugin's unexpected exception into an {@link ArborException} naming the plugin and its
 * bundle, so one bad plugin fails one request with a message that says whom to blame, and nothing else. The
 * unexpected exception is logged once, with its stack trace, since the answer carries only its one-line summary.
 */
final class GuardedParts {
    private static final System.Logger LOG = System.getLogger("dev.arbor.runtime");

    private GuardedParts() {
    }

    /**
     * What a request answers when {@code part} (as {@link PartKind#describe} names it) threw {@code cause}: a
     * part's own refusal of bad input keeps its kind and gains the part's name in front (a message such as "option
     * 'top_p' must be in (0, 1]" does not say which part read it), other Arbor failures pass unchanged, and anything
     * else is the plugin's fault: logged with its stack trace and answered as a {@code PLUGIN_FAILURE}.
     */
    static ArborException failure(String part, String bundle, Throwable cause) {
        if (cause instanceof PartInputException named) {
            return named; // already names the innermost part that refused (a processor inside a generator)
        }
        if (cause instanceof ArborException arbor) {
            return arbor.kind() == ArborException.Kind.INVALID_INPUT
                    ? new PartInputException(part + ": " + arbor.getMessage(), arbor) : arbor;
        }
        LOG.log(System.Logger.Level.WARNING, part + " (bundle " + bundle + ") threw", cause);
        return new ArborException(ArborException.Kind.PLUGIN_FAILURE,
                part + " (bundle " + bundle + ") failed: " + cause, cause);
    }

    /** Bad input that a named part refused; the message starts with the part (kind and name). */
    static final class PartInputException extends ArborException {
        private static final long serialVersionUID = 1L;

        PartInputException(String message, ArborException cause) {
            super(Kind.INVALID_INPUT, message, cause);
        }
    }

    static LogitsProcessor processor(LogitsProcessor delegate, String part, String bundle) {
        return new LogitsProcessor() {
            @Override
            public void process(float[] logits, SamplingContext context) {
                try {
                    delegate.process(logits, context);
                } catch (RuntimeException | LinkageError e) {
                    throw failure(part, bundle, e);
                }
            }

            @Override
            public Set<Trait> traits() {
                return delegate.traits();
            }
        };
    }

    static TokenSelector selector(TokenSelector delegate, String part, String bundle) {
        return (logits, context) -> {
            Selection s;
            try {
                s = delegate.select(logits, context);
            } catch (RuntimeException | LinkageError e) {
                throw failure(part, bundle, e);
            }
            if (s == null || s.token() < 0 || s.token() >= logits.length) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, part + " (bundle " + bundle
                        + ") returned an invalid token " + (s == null ? "null" : s.token()) + " for a vocabulary of "
                        + logits.length);
            }
            return s;
        };
    }
}
