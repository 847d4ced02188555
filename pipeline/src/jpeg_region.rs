//! Decompresses only a region of a JPEG with libjpeg-turbo, scaled by its
//! IDCT: the rows above the region are entropy-decoded and dropped, those
//! below are never read, and the columns outside it skip the IDCT and the
//! colour conversion. The `turbojpeg` crate's safe API lacks cropping, so
//! this module calls the TurboJPEG functions itself; with `encode` and
//! `webp` it holds the crate's only `unsafe` code. Choosing the region and
//! the scale belongs to `jpeg`.
//!
//! Measured with libjpeg-turbo's `tjbench` on the 11 phone photos of the
//! corpus (4032x3024, one core): decoding the centre square at 1/2 takes 11 %
//! less time than decoding the whole image; at 1/4, where Huffman decoding
//! is nearly all the work, it saves 3 % of the instructions and no time
//! that can be told from noise.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_int};

use turbojpeg::raw;
use turbojpeg::{PixelFormat, ScalingFactor};

/// What the header tells before decoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// True for CMYK and YCCK files, which decode to four channels.
    pub(crate) cmyk: bool,
    /// Width of an iMCU at full scale, when the chroma subsampling is one
    /// libjpeg-turbo knows; a cropping region starts on its (scaled) multiple.
    pub(crate) imcu_width: Option<u32>,
}

/// A rectangle of the scaled image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) left: u32,
    pub(crate) top: u32,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

impl Region {
    /// The samples a row of `format` pixels of the region takes, unless that
    /// overflows.
    fn pitch(&self, format: PixelFormat) -> Option<usize> {
        usize::try_from(self.width).ok()?.checked_mul(format.size())
    }

    /// The samples `format` pixels of the region take, unless that overflows.
    pub(crate) fn samples(&self, format: PixelFormat) -> Option<usize> {
        self.pitch(format)?
            .checked_mul(usize::try_from(self.height).ok()?)
    }
}

/// A TurboJPEG decompressor handle, destroyed on drop.
pub(crate) struct RegionDecoder {
    handle: raw::tjhandle,
}

impl RegionDecoder {
    pub(crate) fn new() -> Result<Self, turbojpeg::Error> {
        // SAFETY: tj3Init takes no pointers; a null result is checked below.
        let handle = unsafe { raw::tj3Init(raw::TJINIT_TJINIT_DECOMPRESS as c_int) };
        if handle.is_null() {
            return Err(turbojpeg::Error::Null);
        }
        Ok(Self { handle })
    }

    /// Sets a decompression parameter (`TJPARAM_*`).
    pub(crate) fn set(
        &mut self,
        param: raw::TJPARAM,
        value: c_int,
    ) -> Result<(), turbojpeg::Error> {
        // SAFETY: the handle is live for as long as `self`.
        let status = unsafe { raw::tj3Set(self.handle, param as c_int, value) };
        self.check(status)
    }

    /// Reads the header of `jpeg`; the handle then refers to that image.
    pub(crate) fn read_header(&mut self, jpeg: &[u8]) -> Result<Header, turbojpeg::Error> {
        let length = size(jpeg)?;
        // SAFETY: the pointer and length describe `jpeg`, which outlives the
        // call; libjpeg-turbo only reads it.
        let status = unsafe { raw::tj3DecompressHeader(self.handle, jpeg.as_ptr(), length) };
        self.check(status)?;
        let get = |param: raw::TJPARAM| {
            // SAFETY: the handle is live; tj3Get only reads a field of it.
            unsafe { raw::tj3Get(self.handle, param as c_int) }
        };
        let side = |value: c_int| {
            u32::try_from(value).map_err(|_| turbojpeg::Error::IntegerOverflow("side"))
        };
        let colorspace = get(raw::TJPARAM_TJPARAM_COLORSPACE);
        Ok(Header {
            width: side(get(raw::TJPARAM_TJPARAM_JPEGWIDTH))?,
            height: side(get(raw::TJPARAM_TJPARAM_JPEGHEIGHT))?,
            cmyk: [raw::TJCS_TJCS_CMYK, raw::TJCS_TJCS_YCCK]
                .iter()
                .any(|&cmyk| c_int::try_from(cmyk) == Ok(colorspace)),
            imcu_width: imcu_width(get(raw::TJPARAM_TJPARAM_SUBSAMP)),
        })
    }

    /// Decompresses `region` of `jpeg` scaled by `scale` into `pixels`, in
    /// `format`, row after row without padding. `read_header` must have been
    /// called on the same bytes, and `region.left` must be a multiple of the
    /// scaled iMCU width. After an error that is only a warning, `pixels`
    /// holds the whole region.
    pub(crate) fn decompress(
        &mut self,
        jpeg: &[u8],
        scale: ScalingFactor,
        region: Region,
        format: PixelFormat,
        pixels: &mut [u8],
    ) -> Result<(), turbojpeg::Error> {
        let factor = raw::tjscalingfactor {
            num: int(scale.num(), "scale")?,
            denom: int(scale.denom(), "scale")?,
        };
        // SAFETY: the handle is live; the factor is passed by value.
        let status = unsafe { raw::tj3SetScalingFactor(self.handle, factor) };
        self.check(status)?;
        let cropping = raw::tjregion {
            x: int(region.left, "region")?,
            y: int(region.top, "region")?,
            w: int(region.width, "region")?,
            h: int(region.height, "region")?,
        };
        // SAFETY: the handle is live and has read a header; the region is
        // passed by value and checked against the image by libjpeg-turbo.
        let status = unsafe { raw::tj3SetCroppingRegion(self.handle, cropping) };
        self.check(status)?;

        let length = region
            .samples(format)
            .ok_or(turbojpeg::Error::IntegerOverflow("pixels"))?;
        if pixels.len() < length {
            return Err(turbojpeg::Error::OutputTooSmall(cropping.w, cropping.h));
        }
        let pitch = region
            .pitch(format)
            .ok_or(turbojpeg::Error::IntegerOverflow("pitch"))?;
        let pitch = int(pitch, "pitch")?;
        let jpeg_length = size(jpeg)?;
        // SAFETY: `pixels` holds `pitch * height` bytes, exactly the rows of
        // the cropping region in `format` that libjpeg-turbo writes; `jpeg`
        // is only read and outlives the call.
        let status = unsafe {
            raw::tj3Decompress8(
                self.handle,
                jpeg.as_ptr(),
                jpeg_length,
                pixels.as_mut_ptr(),
                pitch,
                format as c_int,
            )
        };
        self.check(status)
    }

    fn check(&self, status: c_int) -> Result<(), turbojpeg::Error> {
        if status == 0 {
            return Ok(());
        }
        // SAFETY: the handle is live; libjpeg-turbo returns a pointer to a
        // NUL-terminated message it owns, copied out before the next call.
        let message = unsafe { CStr::from_ptr(raw::tj3GetErrorStr(self.handle)) };
        Err(turbojpeg::Error::TurboJpegError(
            message.to_string_lossy().into_owned(),
        ))
    }
}

impl Drop for RegionDecoder {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed only here.
        unsafe { raw::tj3Destroy(self.handle) }
    }
}

/// `value` as a C `int`, or an overflow error naming `what`.
fn int<T: TryInto<c_int>>(value: T, what: &'static str) -> Result<c_int, turbojpeg::Error> {
    value
        .try_into()
        .map_err(|_| turbojpeg::Error::IntegerOverflow(what))
}

/// The length of `bytes` as a C `size_t`.
fn size(bytes: &[u8]) -> Result<raw::size_t, turbojpeg::Error> {
    raw::size_t::try_from(bytes.len()).map_err(|_| turbojpeg::Error::IntegerOverflow("length"))
}

/// libjpeg-turbo's `tjMCUWidth` for a `TJSAMP_*` value.
fn imcu_width(subsamp: c_int) -> Option<u32> {
    match subsamp {
        raw::TJSAMP_TJSAMP_444
        | raw::TJSAMP_TJSAMP_GRAY
        | raw::TJSAMP_TJSAMP_440
        | raw::TJSAMP_TJSAMP_441 => Some(8),
        raw::TJSAMP_TJSAMP_422 | raw::TJSAMP_TJSAMP_420 => Some(16),
        raw::TJSAMP_TJSAMP_411 => Some(32),
        _ => None,
    }
}
