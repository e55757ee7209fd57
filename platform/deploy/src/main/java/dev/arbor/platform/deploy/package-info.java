/**
 * What the deploy watcher tells operator tools: why an installed bundle does not resolve ({@link
 * dev.arbor.platform.deploy.Unresolved}) and which files of the deploy folder it refused ({@link
 * dev.arbor.platform.deploy.RefusedFiles}).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.platform.deploy;
