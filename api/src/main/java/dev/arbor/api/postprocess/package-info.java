/** Post-processors: turn a finished generation into what the user gets (text, reports, detections). */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.api.postprocess;
