/**
 * Images as token sequences: an {@link dev.arbor.api.image.ImageTokenizer} maps class prompts to condition ids and
 * image tokens to pixels and back; {@link dev.arbor.api.image.ImageLayout} is the shared vocabulary layout that
 * image priors, generators, watermarks and post-processors agree on; {@link dev.arbor.api.image.Png} is the one
 * PNG codec; {@link dev.arbor.api.image.LatentImageCodec} is the continuous counterpart of an image
 * tokenizer (latent vectors instead of codes), with an 8-bit wire form so continuous images travel as tokens too.
 * 1.2.0: {@link dev.arbor.api.image.ImageTokenizer#codeVectors()} (the codebook behind the codes).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package dev.arbor.api.image;
