//! HEIC/HEIF and AVIF through libheif: the primary image, never a thumbnail,
//! with grids assembled and the container's rotation and mirroring
//! (`irot`, `imir`) applied by libheif, so the Exif orientation inside is
//! ignored; 8- to 12-bit samples; alpha put onto white; the colour profile
//! passed on to `colour`, or, for PQ and HLG, the pixels tone-mapped by
//! `hdr`. The size comes from the primary item's properties (`ispe` as
//! transformed) and is checked before any pixel is decoded. A grid's
//! centre square is decoded tile by tile by `heif_tiles`. An image
//! sequence gives its still primary item, or, without one, its first frame.

use image::metadata::Orientation;
use image::{DynamicImage, RgbImage, RgbaImage};
use libheif_rs::{
    ColorPrimaries, ColorProfileNCLX, ColorSpace, DecodingOptions, HeifContext, HeifError,
    HeifErrorCode, HeifErrorSubCode, Image, ImageHandle, LibHeif, RgbChroma, SecurityLimits,
    TransferCharacteristics,
};
use moxcms::{CicpColorPrimaries, CicpProfile, ColorProfile, MatrixCoefficients};

use crate::flatten::onto_white;
use crate::format::SourceFormat;
use crate::frame::Frame;
use crate::hdr::{self, Transfer};
use crate::square::Square;
use crate::{Options, PipelineError, clean_aperture, cost, dimensions, heif_container, heif_tiles};

/// Decodes the primary image of `bytes`, refusing sizes above the limits
/// from the container alone.
pub(crate) fn decode(
    bytes: &[u8],
    format: SourceFormat,
    options: &Options,
) -> Result<Frame, PipelineError> {
    let container = heif_container::inspect(bytes, format)?;
    // A clean aperture is opened for libheif and cut out here, after it.
    let opened = clean_aperture::open(bytes, &container);
    let (bytes, aperture) = match &opened {
        Some((copy, kept)) => (copy.as_slice(), Some(*kept)),
        None => (bytes, None),
    };
    let context = match read(bytes, options, format) {
        Ok(context) => context,
        Err(error) => {
            // A sequence whose still image the container describes wrongly
            // (an alpha item that does not exist, say) still has its frames.
            let Some(frames) = without_items(bytes) else {
                return Err(error);
            };
            let context = read(&frames, options, format).map_err(|_| error)?;
            return first_frame(&context, format, options);
        }
    };
    let handle = context
        .primary_image_handle()
        .map_err(|e| from_heif(e, format))?;
    let (width, height) = (handle.width(), handle.height());
    dimensions::check(width, height, options.max_pixels)?;
    let hdr = hdr_transfer(&handle);
    let own_profile = || {
        handle
            .color_profile_raw()
            .map(|raw| raw.data)
            .or_else(|| handle.color_profile_nclx().and_then(described_profile))
    };
    // Only a grid is tiled: other items are not read a second time to
    // learn that they are not.
    if hdr.is_none()
        && aperture.is_none()
        && options.by_content().is_none()
        && container.primary_type == Some(*b"grid")
        && let Some(mut frame) = heif_tiles::decode(bytes, format, options)?
    {
        frame.icc = own_profile().or(frame.icc);
        return Ok(frame);
    }
    cost::check_decode_bytes(
        decode_bytes(&handle, hdr.is_some()),
        options.max_decode_bytes,
    )?;
    let alpha = handle.has_alpha_channel();
    let image = LibHeif::new()
        .decode(
            &handle,
            ColorSpace::Rgb(chroma(hdr.is_some(), alpha)),
            Some(strict()?),
        )
        .map_err(|e| from_heif(e, format))?;
    let pixels = match hdr {
        Some(transfer) => hdr_pixels(&image, alpha, transfer, format)?,
        None => sdr_pixels(&image, alpha, format)?,
    };
    let pixels = match aperture {
        Some(kept) => clean_aperture::cut(pixels, kept),
        None => pixels,
    };
    let icc = match hdr {
        Some(_) => None,
        None => own_profile().or_else(|| profile(&image)),
    };
    Ok(frame(pixels, icc, options))
}

/// The first frame of the image sequence in `context`, as 8-bit colour.
fn first_frame(
    context: &HeifContext<'_>,
    format: SourceFormat,
    options: &Options,
) -> Result<Frame, PipelineError> {
    let no_frames =
        || PipelineError::Corrupt(format!("the {} sequence has no frames", format.name()));
    let track = context.track(0).ok_or_else(no_frames)?;
    let size = track.image_resolution().map_err(|e| from_heif(e, format))?;
    let (width, height) = (u32::from(size.width), u32::from(size.height));
    dimensions::check(width, height, options.max_pixels)?;
    cost::check_decode_bytes(
        cost::decode_bytes(width, height, 8),
        options.max_decode_bytes,
    )?;
    let alpha = track.has_alpha_channel();
    let image = track
        .decode_next_image(ColorSpace::Rgb(chroma(false, alpha)), Some(strict()?))
        .map_err(|e| from_heif(e, format))?;
    let pixels = sdr_pixels(&image, alpha, format)?;
    let icc = profile(&image);
    Ok(frame(pixels, icc, options))
}

/// Upright pixels in `icc`, as a frame centred for `options`.
fn frame(pixels: RgbImage, icc: Option<Vec<u8>>, options: &Options) -> Frame {
    let (width, height) = pixels.dimensions();
    Frame {
        // Upright already: libheif applied the container's turns.
        square: Square::placed(width, height, options.size, options.crop.as_ref(), &[]),
        pixels,
        orientation: Orientation::NoTransforms,
        icc,
    }
}

/// Interleaved RGB, with alpha when the image has it, 16-bit for HDR.
fn chroma(hdr: bool, alpha: bool) -> RgbChroma {
    match (hdr, alpha) {
        (false, false) => RgbChroma::Rgb,
        (false, true) => RgbChroma::Rgba,
        (true, false) => RgbChroma::HdrRgbLe,
        (true, true) => RgbChroma::HdrRgbaLe,
    }
}

/// Decoding where a missing or damaged tile is an error, not a grey patch.
fn strict() -> Result<DecodingOptions, PipelineError> {
    let mut decoding = DecodingOptions::new()
        .ok_or_else(|| PipelineError::Internal("libheif has no decoding options".into()))?;
    decoding.set_strict_decoding(true);
    Ok(decoding)
}

/// For an image sequence (`avis`, `msf1`), `bytes` with its top-level
/// `meta` box, which describes the still items, renamed `free`, so that
/// libheif reads the tracks alone; `None` for other files.
fn without_items(bytes: &[u8]) -> Option<Vec<u8>> {
    let major = bytes.get(8..12)?;
    if major != b"avis" && major != b"msf1" {
        return None;
    }
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + 8) {
        let size = u32::from_be_bytes(header[..4].try_into().ok()?) as usize;
        if &header[4..] == b"meta" {
            let mut frames = bytes.to_vec();
            frames[at + 4..at + 8].copy_from_slice(b"free");
            return Some(frames);
        }
        // Sizes 0 (to the end) and 1 (64-bit) are not used before `meta`.
        if size < 8 {
            return None;
        }
        at = at.checked_add(size)?;
    }
    None
}

/// The pixels of the primary image, from the container's own boxes:
/// libheif does not read the file for it.
pub(crate) fn pixels(bytes: &[u8], format: SourceFormat) -> Option<u64> {
    heif_container::inspect(bytes, format).ok()?.primary_pixels
}

/// The container read under [`Limits`]. Tiles are decoded on the calling
/// thread, since the worker runs one conversion per core.
fn read<'a>(
    bytes: &'a [u8],
    options: &Options,
    format: SourceFormat,
) -> Result<HeifContext<'a>, PipelineError> {
    let mut context = HeifContext::new().map_err(|e| from_heif(e, format))?;
    let mut limits = context.security_limits();
    Limits::for_options(options).apply(&mut limits);
    context
        .set_security_limits(&limits)
        .map_err(|e| from_heif(e, format))?;
    context.set_max_decoding_threads(0);
    context
        .read_bytes(bytes)
        .map_err(|e| from_heif(e, format))?;
    Ok(context)
}

/// The security limits every libheif context of a conversion is read
/// under; libheif's defaults hold for the rest (100 children per box,
/// 1000 items, which a 200 MP Samsung grid of 822 items passes). The
/// structure that no limit of libheif's bounds is checked before libheif
/// reads anything (`heif_container`).
pub(crate) struct Limits {
    /// Pixels of any item: four times the pixel limit, so that thumbnails,
    /// gain maps and depth images pass, while the primary image is held to
    /// the limit itself by the caller, with a clearer message.
    pub pixels: u64,
    /// All of libheif's allocations: twice the decode budget.
    pub memory: u64,
    /// Frames of an image sequence (libheif's default is 18 million).
    pub sequence_frames: u32,
    /// Entries of a sample description box, and of a sample group
    /// description box: a real sequence has one or two.
    pub sample_descriptions: u32,
}

impl Limits {
    pub(crate) fn for_options(options: &Options) -> Self {
        Self {
            pixels: options.max_pixels.saturating_mul(4),
            memory: options.max_decode_bytes.saturating_mul(2),
            sequence_frames: heif_container::MAX_SEQUENCE_FRAMES,
            sample_descriptions: 16,
        }
    }

    fn apply(&self, limits: &mut SecurityLimits) {
        limits.set_max_image_size_pixels(self.pixels);
        limits.set_max_total_memory(self.memory);
        limits.set_max_sequence_frames(self.sequence_frames);
        limits.set_max_sample_description_box_entries(self.sample_descriptions);
        limits.set_max_sample_group_description_box_entries(self.sample_descriptions);
    }
}

/// The bytes a full decode needs: libheif's YCbCr planes (4:2:0 at most
/// twice over for 16-bit storage, alpha included), its interleaved RGB
/// output and the pipeline's RGB copy of it.
fn decode_bytes(handle: &ImageHandle, hdr: bool) -> u64 {
    let deep = handle.luma_bits_per_pixel() > 8;
    let alpha = u64::from(handle.has_alpha_channel());
    let sample = if deep { 2 } else { 1 };
    let rgb = if hdr { 6 + 2 * alpha } else { 3 + alpha };
    let planes = sample * 2 + sample * alpha;
    let copy = 3;
    u64::from(handle.width()) * u64::from(handle.height()) * (planes + rgb + copy)
}

/// The HDR transfer the primary image's colour description names, if any.
fn hdr_transfer(handle: &ImageHandle) -> Option<Transfer> {
    match handle.color_profile_nclx()?.transfer_characteristics() {
        TransferCharacteristics::ITU_R_BT_2100_0_PQ => Some(Transfer::Pq),
        TransferCharacteristics::ITU_R_BT_2100_0_HLG => Some(Transfer::Hlg),
        _ => None,
    }
}

/// The interleaved plane of a decoded image, or what went wrong.
fn interleaved(
    image: &Image,
    format: SourceFormat,
) -> Result<libheif_rs::Plane<&[u8]>, PipelineError> {
    image.planes().interleaved.ok_or_else(|| {
        PipelineError::Internal(format!(
            "libheif gave no interleaved {} pixels",
            format.name()
        ))
    })
}

/// 8-bit RGB or RGBA from libheif as opaque RGB, rows repacked tightly.
fn sdr_pixels(image: &Image, alpha: bool, format: SourceFormat) -> Result<RgbImage, PipelineError> {
    let plane = interleaved(image, format)?;
    let channels = if alpha { 4 } else { 3 };
    let row = plane.width as usize * channels;
    let mut packed = Vec::with_capacity(row * plane.height as usize);
    for line in plane.data.chunks(plane.stride).take(plane.height as usize) {
        packed.extend_from_slice(line.get(..row).unwrap_or(line));
    }
    let damaged = || PipelineError::Corrupt(format!("the {} pixels are incomplete", format.name()));
    if alpha {
        let rgba = RgbaImage::from_raw(plane.width, plane.height, packed).ok_or_else(damaged)?;
        Ok(onto_white(DynamicImage::ImageRgba8(rgba)))
    } else {
        RgbImage::from_raw(plane.width, plane.height, packed).ok_or_else(damaged)
    }
}

/// 16-bit RGB or RGBA from libheif, tone-mapped to sRGB; alpha is put onto
/// white after tone mapping.
fn hdr_pixels(
    image: &Image,
    alpha: bool,
    transfer: Transfer,
    format: SourceFormat,
) -> Result<RgbImage, PipelineError> {
    let plane = interleaved(image, format)?;
    let channels = if alpha { 4 } else { 3 };
    let rgb = hdr::to_srgb(
        plane.data,
        plane.stride,
        (plane.width, plane.height),
        channels,
        plane.bits_per_pixel,
        transfer,
    );
    if !alpha {
        return Ok(rgb);
    }
    // The tone-mapped colour with the alpha samples beside it, onto white.
    let max = hdr::max_code(plane.bits_per_pixel) as f32;
    let rgba = RgbaImage::from_fn(plane.width, plane.height, |x, y| {
        let at = y as usize * plane.stride + x as usize * 8 + 6;
        let a = plane
            .data
            .get(at..at + 2)
            .map_or(0.0, |a| f32::from(u16::from_ne_bytes([a[0], a[1]])));
        let [r, g, b] = rgb.get_pixel(x, y).0;
        image::Rgba([r, g, b, (a / max * 255.0).round().clamp(0.0, 255.0) as u8])
    });
    Ok(onto_white(DynamicImage::ImageRgba8(rgba)))
}

/// The profile libheif attached to the decoded image (an iPhone grid's is
/// taken from its tiles), else one made from its colour description when
/// its primaries are not sRGB's.
fn profile(image: &Image) -> Option<Vec<u8>> {
    if let Some(raw) = image.color_profile_raw() {
        return Some(raw.data);
    }
    described_profile(image.color_profile_nclx()?)
}

/// An ICC profile for the colour description `nclx`, when its primaries
/// are not sRGB's.
fn described_profile(nclx: ColorProfileNCLX) -> Option<Vec<u8>> {
    let primaries = match nclx.color_primaries() {
        ColorPrimaries::ITU_R_BT_709_5 | ColorPrimaries::Unspecified => return None,
        ColorPrimaries::SMPTE_EG_432_1 => CicpColorPrimaries::Smpte432,
        ColorPrimaries::SMPTE_RP_431_2 => CicpColorPrimaries::Smpte431,
        ColorPrimaries::ITU_R_BT_2020_2_and_2100_0 => CicpColorPrimaries::Bt2020,
        ColorPrimaries::ITU_R_BT_601_6 => CicpColorPrimaries::Bt601,
        ColorPrimaries::ITU_R_BT_470_6_System_B_G => CicpColorPrimaries::Bt470Bg,
        _ => return None,
    };
    let transfer = u8::try_from(nclx.transfer_characteristics() as u32)
        .ok()
        .and_then(|code| moxcms::TransferCharacteristics::try_from(code).ok())
        .unwrap_or(moxcms::TransferCharacteristics::Srgb);
    ColorProfile::new_from_cicp(CicpProfile {
        color_primaries: primaries,
        transfer_characteristics: transfer,
        matrix_coefficients: MatrixCoefficients::Bt709,
        full_range: true,
    })
    .encode()
    .ok()
}

/// Translates a libheif error into what the uploader should hear.
pub(crate) fn from_heif(error: HeifError, format: SourceFormat) -> PipelineError {
    let detail = format!("{}: {}", format.display_name(), error.message);
    match (error.code, error.sub_code) {
        (_, HeifErrorSubCode::SecurityLimitExceeded) => PipelineError::TooMuchMemory(detail),
        (HeifErrorCode::MemoryAllocationError, _) => PipelineError::TooMuchMemory(detail),
        (HeifErrorCode::UnsupportedFeature | HeifErrorCode::UnsupportedFileType, _) => {
            PipelineError::UnsupportedVariant {
                format: format.name(),
                detail: error.message,
            }
        }
        (HeifErrorCode::InvalidInput | HeifErrorCode::DecoderPluginError, _) => {
            PipelineError::Corrupt(detail)
        }
        _ => PipelineError::Internal(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A box of `kind` with `body`.
    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let size = u32::try_from(body.len() + 8).expect("a small box");
        [&size.to_be_bytes()[..], kind, body].concat()
    }

    #[test]
    fn a_sequence_loses_its_item_description_and_keeps_its_tracks() {
        let ftyp = boxed(b"ftyp", b"avis\0\0\0\0avismif1");
        let meta = boxed(b"meta", &[7; 20]);
        let moov = boxed(b"moov", &[9; 12]);
        let bytes = [ftyp.clone(), meta, moov.clone()].concat();
        let frames = without_items(&bytes).expect("a sequence");
        assert_eq!(frames, [ftyp, boxed(b"free", &[7; 20]), moov].concat());
    }

    #[test]
    fn still_images_and_broken_boxes_are_left_alone() {
        let still = [boxed(b"ftyp", b"avif\0\0\0\0avif"), boxed(b"meta", &[0; 8])].concat();
        assert_eq!(without_items(&still), None);
        let endless = [boxed(b"ftyp", b"msf1\0\0\0\0msf1"), vec![0, 0, 0, 0]].concat();
        assert_eq!(without_items(&endless), None);
    }
}
