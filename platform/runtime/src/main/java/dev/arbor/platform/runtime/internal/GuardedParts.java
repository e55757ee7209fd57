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
 * bundle, so one bad plugin fails one request with a message that says whom to blame, and nothing else.
 */
final class GuardedParts {
    private GuardedParts() {
    }

    static ArborException failure(String part, String bundle, Throwable cause) {
        if (cause instanceof ArborException arbor) {
            return arbor;
        }
        return new ArborException(ArborException.Kind.PLUGIN_FAILURE,
                part + " (bundle " + bundle + ") failed: " + cause, cause);
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
