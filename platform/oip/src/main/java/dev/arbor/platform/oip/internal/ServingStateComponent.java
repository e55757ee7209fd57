package dev.arbor.platform.oip.internal;

import dev.arbor.platform.oip.server.ServingState;
import java.util.Map;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Modified;

/**
 * The installation's {@link ServingState}: one for every front end, so that REST and gRPC readiness turn false at
 * the same instant and both refuse from the same instant on. The drain delay is {@value #DRAIN_DELAY_MS} of
 * configuration {@code dev.arbor.http} ({@code arbor serve --drain-delay-ms}); its default of {@value
 * #DEFAULT_DRAIN_DELAY_MS} ms suits a command line, while Kubernetes wants a few seconds (endpoints and balancers
 * take that long to drop a replica that turned unready).
 */
@Component(configurationPid = "dev.arbor.http", configurationPolicy = ConfigurationPolicy.OPTIONAL)
public class ServingStateComponent implements ServingState {
    static final String DRAIN_DELAY_MS = "drain_delay_ms";
    static final long DEFAULT_DRAIN_DELAY_MS = 500;
    private static final System.Logger LOG = System.getLogger("dev.arbor.oip");

    private volatile long drainDelayMillis = DEFAULT_DRAIN_DELAY_MS;
    /** System.nanoTime() when the drain began; meaningful once {@link #draining} is true. */
    private volatile long drainStart;
    private volatile boolean draining;

    @Activate
    @Modified
    void configure(Map<String, Object> config) {
        drainDelayMillis = Settings.number(config == null ? Map.of() : config, DRAIN_DELAY_MS, DEFAULT_DRAIN_DELAY_MS,
                0, 600_000);
    }

    @Override
    public boolean ready() {
        return !draining;
    }

    @Override
    public boolean refusing() {
        return draining && System.nanoTime() - drainStart >= drainDelayMillis * 1_000_000L;
    }

    @Override
    public synchronized void beginDrain(String why) {
        if (!draining) {
            drainStart = System.nanoTime();
            draining = true;
            LOG.log(System.Logger.Level.INFO, "not ready any more (" + why + "); new requests are refused in "
                    + drainDelayMillis + " ms (drain_delay_ms)");
        }
    }

    @Override
    public void awaitRefusing() throws InterruptedException {
        if (!draining) {
            return;
        }
        long left = drainStart + drainDelayMillis * 1_000_000L - System.nanoTime();
        if (left > 0) {
            // the delay is the point: balancers see "not ready" while requests are still served
            Thread.sleep(left / 1_000_000L, (int) (left % 1_000_000L));
        }
    }

    @Override
    public long drainDelayMillis() {
        return drainDelayMillis;
    }
}
