/**
 * Cross-cutting types of the Arbor API: the generic {@link dev.arbor.api.Options} map with eager validation,
 * the service properties that name pipeline parts, plugin traits, and the exception every part throws.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package dev.arbor.api;
