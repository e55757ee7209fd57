package dev.arbor.api.image;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import javax.imageio.ImageIO;

/** The one PNG codec for gray images in [0,1] (8-bit gray PNG through {@code javax.imageio}). */
public final class Png {
    private Png() {
    }

    /** An 8-bit gray PNG of {@code pixels} ([height][width], clamped to [0,1], rounded to the nearest level). */
    public static byte[] encode(float[][] pixels) {
        int h = pixels.length;
        int w = h == 0 ? 0 : pixels[0].length;
        if (h == 0 || w == 0) {
            throw new IllegalArgumentException("an image needs at least one pixel");
        }
        BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        byte[] data = ((java.awt.image.DataBufferByte) image.getRaster().getDataBuffer()).getData();
        for (int y = 0; y < h; y++) {
            if (pixels[y].length != w) {
                throw new IllegalArgumentException("row " + y + " has " + pixels[y].length + " pixels, row 0 has " + w);
            }
            for (int x = 0; x < w; x++) {
                float v = Math.max(0f, Math.min(1f, pixels[y][x]));
                data[y * w + x] = (byte) Math.round(v * 255f);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(256 + w * h);
        try {
            if (!ImageIO.write(image, "png", out)) {
                throw new IllegalStateException("this Java runtime has no PNG writer");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /**
     * Gray pixels in [0,1] of a PNG (colour images are converted to luminance); an {@link IllegalArgumentException}
     * naming the cause for bytes that are not a readable PNG.
     */
    public static float[][] decode(byte[] png) {
        BufferedImage image;
        try {
            image = ImageIO.read(new ByteArrayInputStream(png));
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("not a readable PNG: " + e.getMessage(), e);
        }
        if (image == null) {
            throw new IllegalArgumentException("not a PNG image (no reader accepted the bytes)");
        }
        int w = image.getWidth();
        int h = image.getHeight();
        float[][] pixels = new float[h][w];
        if (image.getType() == BufferedImage.TYPE_BYTE_GRAY) {
            Raster raster = image.getRaster();
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    pixels[y][x] = raster.getSample(x, y, 0) / 255f;
                }
            }
        } else {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = image.getRGB(x, y);
                    float r = (rgb >> 16) & 0xff;
                    float g = (rgb >> 8) & 0xff;
                    float b = rgb & 0xff;
                    pixels[y][x] = (0.299f * r + 0.587f * g + 0.114f * b) / 255f;
                }
            }
        }
        return pixels;
    }
}
