/**
 * Image data and image tokenizers for Arbor's image path: the Fashion-MNIST reader
 * ({@link dev.arbor.models.images.FashionMnist}, IDX files of the Debian package {@code dataset-fashion-mnist}), a
 * single-scale patch VQ tokenizer ({@link dev.arbor.models.images.PatchVqTokenizer}, 49 tokens per 28x28 image) and
 * VAR's multi-scale residual VQ ({@link dev.arbor.models.images.MultiScaleVq}, 104 tokens over scales 1..7), both
 * trained by plain-Java k-means ({@link dev.arbor.models.images.KMeans}) and written by
 * {@link dev.arbor.models.images.TrainFashionTokenizers}. Both are served to pipelines as
 * {@link dev.arbor.api.image.ImageTokenizer}s ({@link dev.arbor.models.images.VqImageTokenizer}) by the DS component
 * {@link dev.arbor.models.images.ImageVqTokenizerProvider}, tokenizer format {@code image-vq} (since 1.1). A continuous
 * codec for priors over latents: {@link dev.arbor.models.images.PatchPcaCodec} (4x4 patch PCA, 49 tokens of 16
 * values, an 8-bit wire form), written by {@link dev.arbor.models.images.TrainPatchPca} and served as a
 * {@link dev.arbor.api.image.LatentImageCodec} by {@link dev.arbor.models.images.ImageLatentCodecProvider}, tokenizer
 * format {@code image-latent} (since 1.2). A 1D coarse-to-fine tokenizer (DetailFlow's token order: stage-wise
 * residual VQ in a PCA basis, {@link dev.arbor.models.images.CoarseToFineVq}, {@link dev.arbor.models.images.PcaBasis},
 * written by {@link dev.arbor.models.images.TrainCoarseToFineTokenizer}) is served as
 * {@link dev.arbor.models.images.CoarseToFineImageTokenizer} by
 * {@link dev.arbor.models.images.ImageCoarseToFineTokenizerProvider}, tokenizer format {@code image-1d} (since 1.3).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.3.0")
package dev.arbor.models.images;
