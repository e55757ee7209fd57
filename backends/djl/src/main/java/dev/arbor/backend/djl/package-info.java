/**
 * The {@code djl} model backend (bundle {@code dev.arbor.backend.djl}) on DJL's PyTorch engine: llama2.c checkpoints
 * as a llama decoder defined in Java as DJL blocks, and TorchScript decoders, with every attention spec (an additive
 * bias input) and every state edit.
 *
 * <p>Engine discovery inside OSGi: this bundle only imports {@code ai.djl.*} (pinned to [0.36,0.37)) from the
 * long-lived {@code dev.arbor.djl.runtime} bundle, whose {@code DjlRuntime} initialises the engine with its own class
 * loader as thread context class loader and registers {@code PtEngineProvider} explicitly, then publishes itself as
 * a service that {@link dev.arbor.backend.djl.DjlBackendProvider} references. SPI Fly is not used: it only switches
 * the TCCL around {@code ServiceLoader.load}, while DJL also finds its natives through the TCCL (OSGI-NOTES 4.7).
 */
package dev.arbor.backend.djl;
