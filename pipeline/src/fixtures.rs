//! Small test images built in memory, and readers for what the pipeline
//! writes, shared by the unit tests of every module.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

pub(crate) const RED: [u8; 3] = [255, 0, 0];
pub(crate) const GREEN: [u8; 3] = [0, 255, 0];
pub(crate) const BLUE: [u8; 3] = [0, 0, 255];
pub(crate) const WHITE: [u8; 3] = [255, 255, 255];

/// A square of `side` pixels split in four: red, green on top; blue, white below.
pub(crate) fn quadrants(side: u32) -> RgbImage {
    RgbImage::from_fn(side, side, |x, y| {
        let colour = match (x < side / 2, y < side / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        };
        Rgb(colour)
    })
}

/// `image` written in `format` by the `image` crate's own encoders.
pub(crate) fn encoded(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, format)
        .expect("the fixture encodes");
    bytes.into_inner()
}

/// A JPEG with an EXIF segment holding only `orientation`, placed right after SOI.
pub(crate) fn with_exif_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    exif.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0, orientation, 0, 0]);
    exif.extend_from_slice(&[0, 0, 0, 0]);
    let length = u16::try_from(exif.len() + 2).expect("the segment is small");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A JPEG with two stray bytes after its first segment, as some writers leave.
pub(crate) fn with_stray_bytes(jpeg: &[u8]) -> Vec<u8> {
    let first_segment = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    let mut out = jpeg.to_vec();
    out.splice(first_segment..first_segment, [0x00, 0x42]);
    out
}

/// The header of a 24-bit BMP of `width` x `height` with no pixel data after it.
pub(crate) fn bmp_header(width: i32, height: i32) -> Vec<u8> {
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&0u32.to_le_bytes());
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&width.to_le_bytes());
    bmp.extend_from_slice(&height.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 24]);
    bmp
}

/// The start of an 8-bit RGB PNG of `width` x `height`: a valid signature and
/// header, then an empty image-data chunk and the end chunk.
pub(crate) fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", header.as_slice()), (b"IDAT", &[]), (b"IEND", &[])] {
        let length = u32::try_from(data.len()).expect("chunks are small");
        png.extend_from_slice(&length.to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    }
    png
}

/// The CRC-32 that PNG chunks end with.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// The pixels of a JPEG the pipeline wrote.
pub(crate) fn decoded(jpeg: &[u8]) -> RgbImage {
    image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg)
        .expect("the output decodes")
        .into_rgb8()
}

/// The marker codes of a JPEG up to its first scan, e.g. `0xC2` for a progressive frame.
pub(crate) fn markers(jpeg: &[u8]) -> Vec<u8> {
    let mut found = Vec::new();
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
        let marker = jpeg[at + 1];
        found.push(marker);
        if marker == 0xDA {
            break;
        }
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        at += 2 + length;
    }
    found
}

/// Whether two colours are within `tolerance` of each other in every channel.
pub(crate) fn near(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}
