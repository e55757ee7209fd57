/**
 * Lexical Bias Watermarking as Declarative Services components: {@code watermark-lbw} (a
 * {@code LogitsProcessorFactory}) and {@code watermark-lbw-detect} (a {@code PostProcessor}), and the keyed pool of
 * green lists they share. Private to the bundle; pipelines find these parts by service property.
 */
package dev.arbor.watermark.lbw.internal;
