/**
 * llama2.c support: the legacy checkpoint reader ({@link dev.arbor.models.llama2c.Llama2cCheckpoint}), the pure-Java
 * reference model ({@link dev.arbor.models.llama2c.Llama2cReferenceModel}), the ONNX converter
 * ({@link dev.arbor.models.llama2c.Llama2cOnnxConverter}, reference or fused graphs at the
 * {@link dev.arbor.models.llama2c.Llama2cPrecision} asked for), the {@code tokenizer.bin} tokenizer
 * ({@link dev.arbor.models.llama2c.Llama2cTokenizer}) and a seeded random-weight checkpoint writer for throughput
 * comparisons ({@link dev.arbor.models.llama2c.RandomLlama2cCheckpoint}). 1.2: the converter's input-embeddings graph
 * ({@code Llama2cOnnxConverter.takesInputEmbeddings}, SCALE_CAUSAL cards).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package dev.arbor.models.llama2c;
