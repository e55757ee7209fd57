/**
 * Prognostics: models of a machine's degradation that read a health-indicator series and answer which degradation
 * state it is in and how long until failure (remaining useful life). A {@link dev.arbor.api.prognostics.Prognostics}
 * service serves the models the operator declared; requests name a model, never a file.
 *
 * @since 1.0
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.api.prognostics;
