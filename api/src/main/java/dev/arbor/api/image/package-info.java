/**
 * Images as token sequences: an {@link dev.arbor.api.image.ImageTokenizer} maps class prompts to condition ids and
 * image tokens to pixels and back; {@link dev.arbor.api.image.ImageLayout} is the shared vocabulary layout that
 * image priors, generators, watermarks and post-processors agree on; {@link dev.arbor.api.image.Png} is the one
 * PNG codec.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.api.image;
