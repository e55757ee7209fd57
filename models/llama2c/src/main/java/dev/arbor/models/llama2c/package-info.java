/**
 * llama2.c support: the legacy checkpoint reader ({@link dev.arbor.models.llama2c.Llama2cCheckpoint}), the pure-Java
 * reference model ({@link dev.arbor.models.llama2c.Llama2cReferenceModel}), the ONNX converter
 * ({@link dev.arbor.models.llama2c.Llama2cOnnxConverter}, reference or fused graphs at the
 * {@link dev.arbor.models.llama2c.Llama2cPrecision} asked for) and the {@code tokenizer.bin} tokenizer
 * ({@link dev.arbor.models.llama2c.Llama2cTokenizer}).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package dev.arbor.models.llama2c;
