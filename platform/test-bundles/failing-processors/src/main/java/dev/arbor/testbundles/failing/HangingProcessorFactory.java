package dev.arbor.testbundles.failing;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import java.util.concurrent.CountDownLatch;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;

/**
 * A processor that never returns: it ignores interrupts, so only a server that abandons the worker at the deadline
 * keeps answering. Option {@code hang_after_tokens} lets that many rows through first (a stream that stalls midway).
 * It lets go when its component is deactivated, so a stopping framework leaves no thread behind.
 */
@Component(service = LogitsProcessorFactory.class,
        property = {PartProperties.NAME + "=hanging", PartProperties.DESCRIPTION + "=test processor: never returns"})
public class HangingProcessorFactory implements LogitsProcessorFactory {
    private final CountDownLatch released = new CountDownLatch(1);

    @Override
    public LogitsProcessor create(Options options) {
        int passes = options.integer("hang_after_tokens", 0, 0, 1_000_000);
        int[] rows = {0};
        return (logits, context) -> {
            if (rows[0]++ < passes) {
                return;
            }
            while (released.getCount() > 0) {
                try {
                    released.await();
                } catch (InterruptedException e) {
                    // deliberately ignored: this plugin does not cooperate with cancellation
                }
            }
        };
    }

    @Deactivate
    void deactivate() {
        released.countDown();
    }
}
