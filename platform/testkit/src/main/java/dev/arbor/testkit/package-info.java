/** Test kit: reference-model lookup, toy backends and statistical assertions for testing decoding methods. */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package dev.arbor.testkit;
