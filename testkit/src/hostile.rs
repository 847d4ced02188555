//! Small files crafted to cost a decoder far more than their size: each
//! has a valid header announcing something huge, and barely anything
//! after it. They are built here, byte by byte, so a test holds no binary
//! fixture.

/// A progressive JPEG header of `width` x `height` (three components, no
/// subsampling) followed by `scans` near-empty scans and EOI.
pub fn progressive_jpeg(width: u16, height: u16, scans: u32) -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8];
    // One quantisation table of ones.
    jpeg.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    jpeg.extend_from_slice(&[1u8; 64]);
    // SOF2: precision 8, the size, three components sampled 1x1.
    jpeg.extend_from_slice(&[0xFF, 0xC2, 0x00, 0x11, 0x08]);
    jpeg.extend_from_slice(&height.to_be_bytes());
    jpeg.extend_from_slice(&width.to_be_bytes());
    jpeg.extend_from_slice(&[0x03, 0x01, 0x11, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00]);
    for _ in 0..scans {
        // SOS for one component, an AC refinement band, one data byte.
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01, 0x3F, 0x10]);
        jpeg.push(0x00);
    }
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

/// A GIF whose logical screen is `width` x `height`, holding one 1x1 frame.
pub fn gif_with_screen(width: u16, height: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    // A global colour table of two entries, black and white.
    gif.extend_from_slice(&[0x80, 0x00, 0x00, 0, 0, 0, 255, 255, 255]);
    // One 1x1 image at the origin, LZW minimum code size 2: clear, 0, end.
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0x00]);
    gif.extend_from_slice(&[0x02, 0x02, 0x44, 0x01, 0x00]);
    gif.push(0x3B);
    gif
}

/// A PNG header of `width` x `height`, 16-bit RGBA, with a token IDAT.
pub fn png_16_bit_rgba(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    // A zlib stream of one stored, empty, final block.
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A BMP header of `width` x `height`, 8 bits per pixel, RLE8-compressed,
/// with a two-colour palette and an end-of-bitmap code as its only data.
pub fn bmp_rle8(width: i32, height: i32) -> Vec<u8> {
    let data = [0x00, 0x01];
    let offset: u32 = 14 + 40 + 8;
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&(offset + data.len() as u32).to_le_bytes());
    bmp.extend_from_slice(&[0, 0, 0, 0]);
    bmp.extend_from_slice(&offset.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&width.to_le_bytes());
    bmp.extend_from_slice(&height.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&8u16.to_le_bytes());
    bmp.extend_from_slice(&1u32.to_le_bytes()); // BI_RLE8
    bmp.extend_from_slice(&(data.len() as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 8]); // resolution
    bmp.extend_from_slice(&2u32.to_le_bytes()); // colours used
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&[0, 0, 0, 0, 255, 255, 255, 0]);
    bmp.extend_from_slice(&data);
    bmp
}

/// Appends a PNG chunk with its CRC.
fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (IEEE), bit by bit: these files are tiny.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_crc_is_the_standard_one() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn each_file_is_small() {
        assert!(progressive_jpeg(10_000, 10_000, 500).len() < 6_000);
        assert!(gif_with_screen(10_000, 10_000).len() < 64);
        assert!(png_16_bit_rgba(10_000, 10_000).len() < 100);
        assert!(bmp_rle8(10_000, 10_000).len() < 100);
    }
}
