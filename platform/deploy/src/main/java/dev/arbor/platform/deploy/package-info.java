/**
 * What the deploy watcher tells operator tools: why an installed bundle does not resolve ({@link
 * dev.arbor.platform.deploy.Unresolved}) and which files of the deploy folder it refused ({@link
 * dev.arbor.platform.deploy.RefusedFiles}); and the trust policy file as operator tools edit it ({@link
 * dev.arbor.platform.deploy.TrustFile}) with the jars it names ({@link dev.arbor.platform.deploy.BundleFile}).
 * 1.1.0: TrustFile, BundleFile, Unresolved.reason and OTHER_CAUSE.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package dev.arbor.platform.deploy;
