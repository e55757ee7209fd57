/**
 * The green-list parts as Declarative Services components: {@code watermark-greenlist} (a
 * {@code LogitsProcessorFactory}) and {@code watermark-greenlist-detect} (a {@code PostProcessor}), with the scheme
 * they share and a bit-exact port of the PyTorch CPU generator that Hugging Face draws green lists from.
 * Private to the bundle; pipelines find these parts by service property.
 */
package dev.arbor.watermark.greenlist.internal;
