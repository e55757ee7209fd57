/**
 * The steps every class-conditional image generator shares (raster-order and next-scale): the request checks
 * before any forward ({@link dev.arbor.imagegen.ImageRequest}: the pipeline's tokenizer must be an image tokenizer,
 * the prompt one class token, the prior's vocabulary the tokenizer's layout), code-only logits
 * ({@link dev.arbor.imagegen.CodeMask}: ids that are not codebook entries get {@code -inf} before the pipeline's
 * processor chain, so top-k and top-p see codes only) and partial images streamed as canvases
 * ({@link dev.arbor.imagegen.ImageCanvas}).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package dev.arbor.imagegen;
