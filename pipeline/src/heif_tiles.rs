//! The centre square of a grid image (every phone HEIC: an iPhone's 12 MP
//! photo is 48 tiles of 512x512) decoded tile by tile: only the tiles the
//! square touches are decoded, and each, once put onto white, is averaged
//! straight into the square shrunk by a whole factor that keeps at least
//! 1.4 times the output side, as the JPEG path's DCT scaling does. Neither
//! the whole image's YCbCr planes nor its RGB copy ever exist: a 12 MP
//! photo needs one tile and a 2 MB square instead of about 60 MB.
//!
//! The tiles are read as stored, and the container's rotations and
//! mirrorings (`irot`, `imir`, in the order the file lists them) are
//! applied to the shrunken square afterwards: the centre square of the
//! stored image is the centre square of the shown one. (libheif can hand
//! out tiles already turned, but in 1.23 the offset it gives for a turned
//! grid's partial first tile is the part of it shown, not the part hidden.)
//! A grid with a crop (`clap`) takes the whole-image path.
//!
//! libheif's tile and property API is not in libheif-rs, so this module
//! calls libheif's C API directly and allows `unsafe` code, each call with
//! a `SAFETY` note. Single images, HDR and sequences take `heif`'s
//! whole-image path.

#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use image::RgbImage;
use libheif_rs::HeifError;
use libheif_sys as lh;

use crate::flatten::over_white;
use crate::format::SourceFormat;
use crate::frame::Frame;
use crate::square::Square;
use crate::{Options, PipelineError};

/// The least share of the output side the shrunken square keeps, in tenths.
const KEEP_TENTHS: u32 = 14;

/// A libheif context reading caller-owned bytes, freed when dropped.
struct Context<'a> {
    raw: NonNull<lh::heif_context>,
    _bytes: PhantomData<&'a [u8]>,
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by libheif and freed once, after every handle
        // into it (`Grid` declares its handle first, so drops it first).
        unsafe { lh::heif_context_free(self.raw.as_ptr()) }
    }
}

/// An image handle, released when dropped.
struct Handle(NonNull<lh::heif_image_handle>);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: given by libheif and released once.
        unsafe { lh::heif_image_handle_release(self.0.as_ptr()) }
    }
}

/// The primary image of a context and its tiling.
struct Grid<'a> {
    handle: Handle,
    _context: Context<'a>,
    tiling: lh::heif_image_tiling,
}

/// One decoded tile, released when dropped.
struct Tile(NonNull<lh::heif_image>);

impl Drop for Tile {
    fn drop(&mut self) {
        // SAFETY: allocated by libheif for this tile and released once.
        unsafe { lh::heif_image_release(self.0.as_ptr()) }
    }
}

/// What decoding a square of `crop` pixels for `side` needs in bytes: the
/// shrunken square's sums and pixels, and one tile of `tile_pixels` in
/// RGBA with libheif's YCbCr of it.
fn decode_bytes(crop: u32, side: u32, tile_pixels: u64) -> u64 {
    let shrunk = u64::from(crop.div_ceil(factor(crop, side)));
    shrunk * shrunk * (3 * 4 + 3) + tile_pixels * 6
}

/// The whole factor the square of `crop` pixels is shrunk by for `side`.
fn factor(crop: u32, side: u32) -> u32 {
    (crop * 10 / (side.max(1) * KEEP_TENTHS)).max(1)
}

/// The centre square of the primary image of `bytes` as a frame, when it is
/// a grid of more than one tile; `None` for other images.
pub(crate) fn decode(
    bytes: &[u8],
    format: SourceFormat,
    options: &Options,
) -> Result<Option<Frame>, PipelineError> {
    let Some(grid) = Grid::read(bytes, options, format)? else {
        return Ok(None);
    };
    let tiling = grid.tiling;
    if u64::from(tiling.num_columns) * u64::from(tiling.num_rows) < 2 {
        return Ok(None);
    }
    let Some(turns) = grid.transformations() else {
        return Ok(None);
    };
    let (width, height) = (tiling.image_width, tiling.image_height);
    // The grid's own size, which a damaged file may give as nothing.
    crate::dimensions::check(width, height, options.max_pixels)?;
    // The square in the stored grid: the client's crop is of the upright
    // image, which the container's turns make.
    let steps: Vec<crate::square::Turn> = turns.iter().filter_map(|t| t.step()).collect();
    let square = Square::placed(width, height, options.size, options.crop.as_ref(), &steps);
    let tile_pixels = u64::from(tiling.tile_width) * u64::from(tiling.tile_height);
    crate::cost::check_decode_bytes(
        decode_bytes(square.crop, square.side, tile_pixels),
        options.max_decode_bytes,
    )?;
    // SAFETY: the handle is valid while `grid` lives.
    let alpha = unsafe { lh::heif_image_handle_has_alpha_channel(grid.handle.0.as_ptr()) } != 0;
    let mut shrunk = Shrunk::new(square);
    let mut icc = None;
    let (tile_width, tile_height) = (tiling.tile_width, tiling.tile_height);
    for row in 0..tiling.num_rows {
        let top = i64::from(row) * i64::from(tile_height);
        if !overlaps(top, tile_height, square.top, square.crop) {
            continue;
        }
        for column in 0..tiling.num_columns {
            let left = i64::from(column) * i64::from(tile_width);
            if !overlaps(left, tile_width, square.left, square.crop) {
                continue;
            }
            let tile = grid.tile(column, row, alpha, format)?;
            if icc.is_none() {
                icc = tile.profile();
            }
            shrunk.add(&tile, left, top, alpha, format)?;
        }
    }
    let pixels = turns
        .iter()
        .fold(shrunk.finish(), |pixels, turn| turn.apply(&pixels));
    let output = pixels.width();
    Ok(Some(Frame {
        pixels,
        square: Square {
            left: 0,
            top: 0,
            crop: output,
            side: square.side,
        },
        orientation: image::metadata::Orientation::NoTransforms,
        icc,
    }))
}

/// Whether `[start, start + length)` meets `[from, from + span)`.
fn overlaps(start: i64, length: u32, from: u32, span: u32) -> bool {
    start < i64::from(from) + i64::from(span) && start + i64::from(length) > i64::from(from)
}

impl<'a> Grid<'a> {
    /// The primary image of `bytes` and its tiling, or `None` when libheif
    /// reports no tiling for it.
    fn read(
        bytes: &'a [u8],
        options: &Options,
        format: SourceFormat,
    ) -> Result<Option<Self>, PipelineError> {
        // SAFETY: a fresh context, checked for null.
        let raw = NonNull::new(unsafe { lh::heif_context_alloc() })
            .ok_or_else(|| PipelineError::Internal("libheif could not make a context".into()))?;
        let context = Context {
            raw,
            _bytes: PhantomData,
        };
        let raw = context.raw.as_ptr();
        let wanted = crate::heif::Limits::for_options(options);
        // SAFETY: `raw` is a live context: its limits are copied, changed
        // and set back by value. `bytes` outlives the context (`'a`), as
        // reading without a copy requires.
        unsafe {
            let mut limits = *lh::heif_context_get_security_limits(raw);
            limits.max_image_size_pixels = wanted.pixels;
            limits.max_total_memory = wanted.memory;
            limits.max_sequence_frames = wanted.sequence_frames;
            limits.max_sample_description_box_entries = wanted.sample_descriptions;
            limits.max_sample_group_description_box_entries = wanted.sample_descriptions;
            check(lh::heif_context_set_security_limits(raw, &limits), format)?;
            lh::heif_context_set_max_decoding_threads(raw, 0);
            let read = lh::heif_context_read_from_memory_without_copy(
                raw,
                bytes.as_ptr().cast(),
                bytes.len(),
                ptr::null(),
            );
            check(read, format)?;
        }
        let mut handle = ptr::null_mut();
        // SAFETY: `raw` is live; the handle is written on success only.
        check(
            unsafe { lh::heif_context_get_primary_image_handle(raw, &mut handle) },
            format,
        )?;
        let Some(handle) = NonNull::new(handle).map(Handle) else {
            return Ok(None);
        };
        // SAFETY: a plain C struct of integers, for which all zeros is valid.
        let mut tiling: lh::heif_image_tiling = unsafe { std::mem::zeroed() };
        // SAFETY: the handle is live; the tiling struct is ours to fill.
        let tiled =
            unsafe { lh::heif_image_handle_get_image_tiling(handle.0.as_ptr(), 0, &mut tiling) };
        Ok((tiled.code == 0).then_some(Grid {
            handle,
            _context: context,
            tiling,
        }))
    }

    /// The rotations and mirrorings to apply to the stored image, in order;
    /// `None` when it is also cropped, or a property cannot be read.
    fn transformations(&self) -> Option<Vec<Turn>> {
        let context = self._context.raw.as_ptr();
        // SAFETY: the handle and context are live; the list is sized by the
        // count libheif gives first, and each id comes from that list.
        unsafe {
            let item = lh::heif_image_handle_get_item_id(self.handle.0.as_ptr());
            let count =
                lh::heif_item_get_transformation_properties(context, item, ptr::null_mut(), 0);
            let mut ids = vec![0; usize::try_from(count).ok()?];
            let filled =
                lh::heif_item_get_transformation_properties(context, item, ids.as_mut_ptr(), count);
            ids.truncate(usize::try_from(filled).ok()?);
            ids.into_iter()
                .map(|id| match lh::heif_item_get_property_type(context, item, id) {
                    lh::heif_item_property_type_heif_item_property_type_transform_rotation => {
                        match lh::heif_item_get_property_transform_rotation_ccw(context, item, id) {
                            0 => Some(Turn::None),
                            90 => Some(Turn::Anticlockwise),
                            180 => Some(Turn::Half),
                            270 => Some(Turn::Clockwise),
                            _ => None,
                        }
                    }
                    lh::heif_item_property_type_heif_item_property_type_transform_mirror => {
                        match lh::heif_item_get_property_transform_mirror(context, item, id) {
                            lh::heif_transform_mirror_direction_heif_transform_mirror_direction_vertical => {
                                Some(Turn::FlipVertical)
                            }
                            lh::heif_transform_mirror_direction_heif_transform_mirror_direction_horizontal => {
                                Some(Turn::FlipHorizontal)
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                })
                .collect()
        }
    }

    /// The tile at `column`, `row` of the stored grid as interleaved
    /// 8-bit RGB, or RGBA when the image has alpha.
    fn tile(
        &self,
        column: u32,
        row: u32,
        alpha: bool,
        format: SourceFormat,
    ) -> Result<Tile, PipelineError> {
        let chroma = if alpha {
            lh::heif_chroma_heif_chroma_interleaved_RGBA
        } else {
            lh::heif_chroma_heif_chroma_interleaved_RGB
        };
        let options = Decoding::new()?;
        let mut image = ptr::null_mut();
        // SAFETY: the handle and options are live; the image is written on
        // success only and then owned by the `Tile`.
        check(
            unsafe {
                lh::heif_image_handle_decode_image_tile(
                    self.handle.0.as_ptr(),
                    &mut image,
                    lh::heif_colorspace_heif_colorspace_RGB,
                    chroma,
                    options.0.as_ptr(),
                    column,
                    row,
                )
            },
            format,
        )?;
        NonNull::new(image)
            .map(Tile)
            .ok_or_else(|| PipelineError::Internal("libheif gave no tile".into()))
    }
}

/// Decoding options for stored tiles: transformations left to `Turn`, a
/// damaged tile an error.
struct Decoding(NonNull<lh::heif_decoding_options>);

impl Decoding {
    fn new() -> Result<Self, PipelineError> {
        // SAFETY: fresh options, checked for null, then set in place.
        let options = NonNull::new(unsafe { lh::heif_decoding_options_alloc() })
            .ok_or_else(|| PipelineError::Internal("libheif has no decoding options".into()))?;
        // SAFETY: the options were just allocated and are ours alone.
        unsafe {
            (*options.as_ptr()).ignore_transformations = 1;
            (*options.as_ptr()).strict_decoding = 1;
        }
        Ok(Self(options))
    }
}

impl Drop for Decoding {
    fn drop(&mut self) {
        // SAFETY: allocated by libheif above and freed once.
        unsafe { lh::heif_decoding_options_free(self.0.as_ptr()) }
    }
}

impl Tile {
    /// The interleaved samples, their row stride, width and height.
    fn samples(&self) -> Option<(&[u8], usize, u32, u32)> {
        let image = self.0.as_ptr();
        let channel = lh::heif_channel_heif_channel_interleaved;
        let mut stride = 0usize;
        // SAFETY: the image is live while `self` is; libheif gives a plane
        // of `stride * height` bytes, which the slice does not outlive.
        unsafe {
            let width = u32::try_from(lh::heif_image_get_width(image, channel)).ok()?;
            let height = u32::try_from(lh::heif_image_get_height(image, channel)).ok()?;
            let data = lh::heif_image_get_plane_readonly2(image, channel, &mut stride);
            if data.is_null() {
                return None;
            }
            let plane = std::slice::from_raw_parts(data, stride * height as usize);
            Some((plane, stride, width, height))
        }
    }

    /// The ICC profile libheif attached to the tile, if any.
    fn profile(&self) -> Option<Vec<u8>> {
        let image = self.0.as_ptr();
        // SAFETY: the image is live; the buffer has the size libheif gives.
        unsafe {
            let size = lh::heif_image_get_raw_color_profile_size(image);
            if size == 0 {
                return None;
            }
            let mut profile = vec![0u8; size];
            let read = lh::heif_image_get_raw_color_profile(image, profile.as_mut_ptr().cast());
            (read.code == 0).then_some(profile)
        }
    }
}

/// A libheif error as the pipeline's.
fn check(error: lh::heif_error, format: SourceFormat) -> Result<(), PipelineError> {
    HeifError::from_heif_error(error).map_err(|e| crate::heif::from_heif(e, format))
}

/// One transformation of the container, as libheif names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    None,
    Anticlockwise,
    Half,
    Clockwise,
    FlipVertical,
    FlipHorizontal,
}

impl Turn {
    /// The step of `square` this turn is, if any.
    fn step(self) -> Option<crate::square::Turn> {
        use crate::square::Turn as Step;
        match self {
            Turn::None => None,
            Turn::Anticlockwise => Some(Step::Anticlockwise),
            Turn::Half => Some(Step::Half),
            Turn::Clockwise => Some(Step::Clockwise),
            Turn::FlipVertical => Some(Step::FlipVertical),
            Turn::FlipHorizontal => Some(Step::FlipHorizontal),
        }
    }

    fn apply(self, pixels: &RgbImage) -> RgbImage {
        use image::imageops::{flip_horizontal, flip_vertical, rotate90, rotate180, rotate270};
        match self {
            Turn::None => pixels.clone(),
            Turn::Anticlockwise => rotate270(pixels),
            Turn::Half => rotate180(pixels),
            Turn::Clockwise => rotate90(pixels),
            Turn::FlipVertical => flip_vertical(pixels),
            Turn::FlipHorizontal => flip_horizontal(pixels),
        }
    }
}

/// Sums of the square's pixels per cell of the shrunken square.
struct Shrunk {
    square: Square,
    factor: u32,
    side: u32,
    sums: Vec<u32>,
}

impl Shrunk {
    fn new(square: Square) -> Self {
        let factor = factor(square.crop, square.side);
        let side = square.crop.div_ceil(factor);
        Self {
            square,
            factor,
            side,
            sums: vec![0; side as usize * side as usize * 3],
        }
    }

    /// Adds the tile whose top-left corner sits at `left`, `top` of the
    /// displayed image, each pixel put onto white first.
    fn add(
        &mut self,
        tile: &Tile,
        left: i64,
        top: i64,
        alpha: bool,
        format: SourceFormat,
    ) -> Result<(), PipelineError> {
        let (data, stride, width, height) = tile.samples().ok_or_else(|| {
            PipelineError::Corrupt(format!("a {} tile has no pixels", format.name()))
        })?;
        let channels = if alpha { 4 } else { 3 };
        let (from_x, from_y) = (i64::from(self.square.left), i64::from(self.square.top));
        let crop = i64::from(self.square.crop);
        for y in 0..i64::from(height) {
            let in_square = top + y - from_y;
            if !(0..crop).contains(&in_square) {
                continue;
            }
            let cell_row = (in_square as u32 / self.factor) as usize * self.side as usize;
            let line = &data[y as usize * stride..][..width as usize * channels];
            for (x, pixel) in line.chunks_exact(channels).enumerate() {
                let in_square_x = left + x as i64 - from_x;
                if !(0..crop).contains(&in_square_x) {
                    continue;
                }
                let cell = (cell_row + (in_square_x as u32 / self.factor) as usize) * 3;
                let rgb = if alpha {
                    let a = u64::from(pixel[3]);
                    [0, 1, 2].map(|c| u32::from(over_white(u64::from(pixel[c]), a, 255)))
                } else {
                    [0, 1, 2].map(|c| u32::from(pixel[c]))
                };
                for (sum, value) in self.sums[cell..cell + 3].iter_mut().zip(rgb) {
                    *sum += value;
                }
            }
        }
        Ok(())
    }

    /// The mean of each cell; cells on the far edges cover fewer pixels.
    fn finish(self) -> RgbImage {
        let (factor, crop) = (self.factor, self.square.crop);
        let span = |cell: u32| (crop - cell * factor).min(factor);
        RgbImage::from_fn(self.side, self.side, |x, y| {
            let count = span(x) * span(y);
            let at = (y as usize * self.side as usize + x as usize) * 3;
            let mean =
                |c: usize| u8::try_from((self.sums[at + c] + count / 2) / count).unwrap_or(255);
            image::Rgb([mean(0), mean(1), mean(2)])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_square_is_shrunk_to_at_least_one_and_four_tenths_of_the_side() {
        assert_eq!(factor(3024, 512), 4);
        assert_eq!(3024u32.div_ceil(factor(3024, 512)), 756);
        assert_eq!(factor(700, 512), 1);
    }

    #[test]
    fn tiles_outside_the_square_are_skipped() {
        assert!(!overlaps(0, 504, 504, 3024));
        assert!(overlaps(0, 512, 504, 3024));
        // A 4032-row grid's last row of tiles lies below its centre square.
        assert!(overlaps(3072, 512, 504, 3024));
        assert!(!overlaps(3584, 512, 504, 3024));
        assert!(overlaps(-10, 512, 0, 100));
    }
}
