//! Writes pixels as the stored avatar JPEG with libjpeg-turbo: progressive,
//! 4:2:0, optimised Huffman tables, no metadata. The scan script refines
//! only the luma's AC coefficients in a second pass, which TurboJPEG's API
//! cannot ask for, so `csrc/encode.c` drives libjpeg's own API and this
//! module calls it; with `jpeg_region` and `webp` it holds the crate's only
//! `unsafe` code. Producing the pixels belongs to the rest of the pipeline.
//!
//! Measured with callgrind and libjpeg-turbo's `cjpeg` on the avatars of the
//! corpus: the standard progressive script (ten scans, every component
//! refined) takes 31 M instructions a 512-pixel avatar, this one (five
//! scans) 22 M, one without any refinement (four scans) 16 M. Against the
//! standard script's bytes, this one gives -1.0 % on the photos and +1.6 %
//! on the WebP files (graphics); without refinement, +1.3 % and +4.8 %.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_uchar, c_uint};

use image::RgbImage;

use crate::PipelineError;

unsafe extern "C" {
    /// See `csrc/encode.c`.
    fn avatar_jpeg_encode(
        rgb: *const c_uchar,
        width: c_uint,
        height: c_uint,
        quality: c_int,
        out: *mut *mut c_uchar,
        out_len: *mut usize,
        message: *mut c_char,
        message_len: usize,
    ) -> c_int;
    fn avatar_jpeg_free(buffer: *mut c_uchar);
}

/// Room for libjpeg's longest message (`JMSG_LENGTH_MAX`).
const MESSAGE_LEN: usize = 200;

/// The JPEG bytes of `image` at `quality` (1 to 100).
pub(crate) fn encode(image: &RgbImage, quality: u8) -> Result<Vec<u8>, PipelineError> {
    let mut out = std::ptr::null_mut();
    let mut out_len = 0;
    let mut message = [0 as c_char; MESSAGE_LEN];
    // SAFETY: `image` holds exactly width x height packed RGB pixels, which
    // is what the function reads; it writes only `out`, `out_len` and at
    // most `MESSAGE_LEN` bytes of `message`, NUL-terminated.
    let status = unsafe {
        avatar_jpeg_encode(
            image.as_raw().as_ptr(),
            image.width(),
            image.height(),
            c_int::from(quality),
            &mut out,
            &mut out_len,
            message.as_mut_ptr(),
            MESSAGE_LEN,
        )
    };
    if status != 0 {
        // SAFETY: on failure the function left a NUL-terminated message in
        // the buffer (or its first byte zero), and allocated nothing.
        let why = unsafe { CStr::from_ptr(message.as_ptr()) };
        return Err(PipelineError::Internal(format!(
            "JPEG encoder: {}",
            why.to_string_lossy()
        )));
    }
    // SAFETY: on success `out` points to `out_len` initialised bytes that
    // the function allocated, freed once here after copying them.
    let jpeg = unsafe { std::slice::from_raw_parts(out, out_len) }.to_vec();
    // SAFETY: `out` came from `avatar_jpeg_encode` and is not used again.
    unsafe { avatar_jpeg_free(out) };
    Ok(jpeg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{decoded, markers, quadrants};

    #[test]
    fn the_avatar_is_a_progressive_jpeg_with_only_a_jfif_header() {
        let jpeg = encode(&quadrants(32), 85).expect("encodes");
        let markers = markers(&jpeg);
        let metadata: Vec<u8> = markers
            .iter()
            .copied()
            .filter(|&m| (0xE0..=0xEF).contains(&m) || m == 0xFE)
            .collect();
        assert_eq!(metadata, [0xE0], "{markers:x?}");
        assert!(markers.contains(&0xC2), "{markers:x?}");
        assert_eq!(decoded(&jpeg).dimensions(), (32, 32));
    }

    #[test]
    fn chroma_is_subsampled_4_2_0() {
        let jpeg = encode(&quadrants(32), 85).expect("encodes");
        let sof = jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xC2])
            .expect("a progressive frame header");
        // Marker, length, precision, height, width, then three components
        // of (id, sampling factors, table); luma 2x2, each chroma 1x1.
        assert_eq!(jpeg[sof + 9], 3, "three components");
        let factors: Vec<u8> = (0..3).map(|c| jpeg[sof + 11 + 3 * c]).collect();
        assert_eq!(factors, [0x22, 0x11, 0x11]);
    }

    #[test]
    fn an_avatar_larger_than_the_first_buffer_comes_out_whole() {
        // Noise at top quality compresses badly: several times 64 KB.
        let mut state = 1u32;
        let noise = RgbImage::from_fn(600, 600, |_, _| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            image::Rgb(state.to_be_bytes()[..3].try_into().expect("three bytes"))
        });
        let jpeg = encode(&noise, 100).expect("encodes");
        assert!(jpeg.len() > 4 * 64 * 1024, "{} bytes", jpeg.len());
        assert_eq!(jpeg[jpeg.len() - 2..], [0xFF, 0xD9], "ends with EOI");
        assert_eq!(decoded(&jpeg).dimensions(), (600, 600));
    }
}
