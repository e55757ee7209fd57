package dev.arbor.models.images;

import dev.arbor.api.ArborException;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.BufferUnderflowException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.CRC32;

/**
 * The binary codebook file both tokenizers read and write (big-endian):
 * <pre>
 *   bytes  "ARBVQ" + 0x00 0x0D 0x0A     magic (8 bytes; the CR/LF catch text-mode mangling)
 *   int    version                     1
 *   int    kind                        1 = single-scale patch VQ, 2 = multi-scale residual VQ
 *   int    image side, patch side      28, 4
 *   int    K, dim                      codebook size, code dimension (= patch side², 16)
 *   int    n, then n ints              scales (side of each scale's grid; patch VQ: n = 1, scale 7)
 *   float  K × dim                     codebook, code-major
 *   int    CRC-32 of every byte before it
 * </pre>
 * Readers refuse anything else with an ArborException (BAD_MODEL) naming the file and the cause.
 */
final class VqFile {
    static final byte[] MAGIC = {'A', 'R', 'B', 'V', 'Q', 0, 0x0D, 0x0A};
    static final int VERSION = 1;
    static final int KIND_PATCH = 1;
    static final int KIND_MULTI_SCALE = 2;
    /** {@link #read}'s expected kind that accepts both kinds (the image-vq tokenizer provider). */
    static final int ANY_KIND = 0;
    private static final int MAX_K = 1 << 16;

    record Contents(int kind, int[] scales, float[][] codebook) {
    }

    private VqFile() {
    }

    static void write(Path file, int kind, int[] scales, float[][] codebook) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.write(MAGIC);
            out.writeInt(VERSION);
            out.writeInt(kind);
            out.writeInt(PatchGrid.SIDE);
            out.writeInt(PatchGrid.PATCH);
            out.writeInt(codebook.length);
            out.writeInt(PatchGrid.DIM);
            out.writeInt(scales.length);
            for (int s : scales) out.writeInt(s);
            for (float[] code : codebook) {
                for (float v : code) out.writeFloat(v);
            }
            out.flush();
            CRC32 crc = new CRC32();
            crc.update(bytes.toByteArray());
            out.writeInt((int) crc.getValue());
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            Files.write(file, bytes.toByteArray());
        } catch (IOException e) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, "cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    static Contents read(Path file, int expectedKind) {
        byte[] all;
        try {
            all = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "VQ tokenizer file " + file + " not found", e);
        } catch (IOException e) {
            throw ArborException.badModel("cannot read " + file + ": " + e.getMessage(), e);
        }
        ByteBuffer in = ByteBuffer.wrap(all);
        try {
            byte[] magic = new byte[MAGIC.length];
            in.get(magic);
            if (!java.util.Arrays.equals(magic, MAGIC)) throw bad(file, "not an Arbor VQ tokenizer file (bad magic)");
            int version = in.getInt();
            if (version != VERSION) throw bad(file, "unsupported version " + version + " (this reader knows " + VERSION + ")");
            int kind = in.getInt();
            if (expectedKind == ANY_KIND && kind != KIND_PATCH && kind != KIND_MULTI_SCALE) {
                throw bad(file, "holds an " + kindName(kind) + " tokenizer");
            }
            if (expectedKind != ANY_KIND && kind != expectedKind) {
                throw bad(file, "holds a " + kindName(kind) + " tokenizer, expected a " + kindName(expectedKind) + " one");
            }
            int side = in.getInt();
            int patch = in.getInt();
            if (side != PatchGrid.SIDE || patch != PatchGrid.PATCH) {
                throw bad(file, "image side " + side + " / patch " + patch + ", this build supports 28 / 4");
            }
            int k = in.getInt();
            int dim = in.getInt();
            if (k < 1 || k > MAX_K) throw bad(file, "codebook size K=" + k + " outside 1.." + MAX_K);
            if (dim != PatchGrid.DIM) throw bad(file, "code dimension " + dim + ", expected " + PatchGrid.DIM);
            int n = in.getInt();
            if (n < 1 || n > PatchGrid.GRID) throw bad(file, n + " scales, expected 1.." + PatchGrid.GRID);
            int[] scales = new int[n];
            for (int i = 0; i < n; i++) scales[i] = in.getInt();
            long expected = (long) k * dim * Float.BYTES + Integer.BYTES;
            if (in.remaining() < expected) {
                throw bad(file, "truncated: " + in.remaining() + " bytes left for a " + k + "x" + dim
                        + " codebook and checksum, need " + expected);
            }
            if (in.remaining() > expected) throw bad(file, (in.remaining() - expected) + " unexpected trailing bytes");
            float[][] codebook = new float[k][dim];
            for (int j = 0; j < k; j++) {
                for (int d = 0; d < dim; d++) {
                    float v = in.getFloat();
                    if (!Float.isFinite(v)) throw bad(file, "code " + j + " holds a non-finite value");
                    codebook[j][d] = v;
                }
            }
            CRC32 crc = new CRC32();
            crc.update(all, 0, in.position());
            int stored = in.getInt();
            if (stored != (int) crc.getValue()) throw bad(file, "checksum mismatch (file corrupted)");
            return new Contents(kind, scales, codebook);
        } catch (BufferUnderflowException e) {
            throw ArborException.badModel(file + " is truncated (header incomplete, " + all.length + " bytes)", e);
        }
    }

    private static String kindName(int kind) {
        return switch (kind) {
            case KIND_PATCH -> "single-scale patch VQ";
            case KIND_MULTI_SCALE -> "multi-scale residual VQ";
            default -> "unknown (kind " + kind + ")";
        };
    }

    private static ArborException bad(Path file, String cause) {
        return ArborException.badModel(file + ": " + cause, null);
    }
}
