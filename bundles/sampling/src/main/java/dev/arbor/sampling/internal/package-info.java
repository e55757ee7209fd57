/**
 * The sampling parts as Declarative Services components: one {@code LogitsProcessorFactory} or
 * {@code TokenSelectorFactory} per {@code arbor.part} name, each next to the processor or selector it creates.
 * Private to the bundle; pipelines find these parts by service property, never by class.
 */
package dev.arbor.sampling.internal;
