package dev.arbor.platform.oip.server;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The server's readiness through a graceful stop, shared by every front end (REST {@code /v2/health/ready}, gRPC
 * {@code ServerReady}, the OpenAI routes' refusals): serving, then not ready (a balancer or Kubernetes stops sending
 * new requests while they are still served), then, after the drain delay, refusing (new requests get 503 /
 * UNAVAILABLE with a retry hint) while requests already running finish. Registered as a service by this bundle.
 */
@ProviderType
public interface ServingState {

    /** False once a drain has begun. */
    boolean ready();

    /** True once the drain delay has passed since the drain began: new requests are refused from then on. */
    boolean refusing();

    /** Begins the drain unless one has begun: readiness is false from now on, refusal follows after the delay. */
    void beginDrain(String why);

    /** Waits until the drain delay since the drain's beginning has passed (at once when no drain has begun). */
    void awaitRefusing() throws InterruptedException;

    /**
     * {@link #beginDrain} then {@link #awaitRefusing}: what every front end does when the framework starts stopping,
     * in any order (the first to come begins the drain, all refuse from the same instant).
     */
    default void drain(String why) throws InterruptedException {
        beginDrain(why);
        awaitRefusing();
    }

    /** Milliseconds between readiness turning false and new requests being refused ({@code drain_delay_ms}). */
    long drainDelayMillis();
}
