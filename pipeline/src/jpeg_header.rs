//! What a JPEG says about itself before its first scan: the coding process,
//! sample precision, size and components from the frame header, the EXIF
//! orientation, the embedded ICC profile and Adobe's colour transform flag.
//! Decoding the pixels belongs to `jpeg`.

/// The facts about a JPEG that decide how, and whether, it is decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JpegHeader {
    /// The start-of-frame marker, e.g. `0xC0` baseline, `0xC2` progressive, `0xC3` lossless.
    pub(crate) frame_marker: u8,
    /// Bits per sample: 8 for almost every JPEG, 12 or 16 for rare ones.
    pub(crate) precision: u8,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Colour components: 1 grey, 3 YCbCr or RGB, 4 CMYK or YCCK.
    pub(crate) components: u8,
    /// The EXIF orientation, 1 to 8; 1 when absent or unreadable.
    pub(crate) orientation: u8,
    /// The ICC profile reassembled from its APP2 chunks, if complete.
    pub(crate) icc: Option<Vec<u8>>,
    /// The Adobe APP14 transform flag, when that segment is present.
    pub(crate) adobe_transform: Option<u8>,
    /// The bytes of DCT coefficients the whole image holds (two per
    /// coefficient, by each component's sampling): what a progressive
    /// decode keeps in memory at once.
    pub(crate) coefficient_bytes: u64,
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// The data ends or breaks off before a frame header is found.
    Malformed(&'static str),
}

impl JpegHeader {
    /// Reads the segments from SOI up to the first scan.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, HeaderError> {
        let mut header = Self {
            orientation: 1,
            ..Self::default()
        };
        let mut icc_chunks: Vec<(u8, u8, &[u8])> = Vec::new();
        let mut at = 2;
        loop {
            // Like libjpeg, skip stray bytes before a marker, and the 0xFF
            // padding a marker may have.
            while bytes.get(at).is_some_and(|&b| b != 0xFF)
                || (bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF))
            {
                at += 1;
            }
            let (Some(&0xFF), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
                return Err(HeaderError::Malformed("a segment marker is missing"));
            };
            at += 2;
            if marker == 0x01 || (0xD0..=0xD8).contains(&marker) {
                continue;
            }
            if marker == 0xD9 {
                return Err(HeaderError::Malformed("the image ends before any scan"));
            }
            let length = bytes
                .get(at..at + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .filter(|&length| length >= 2)
                .ok_or(HeaderError::Malformed("a segment length is missing"))?;
            let body = bytes
                .get(at + 2..at + length)
                .ok_or(HeaderError::Malformed(
                    "a segment runs past the end of the file",
                ))?;
            at += length;
            match marker {
                0xDA => break,
                0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                    header.read_frame(marker, body)?;
                }
                0xE1 if body.starts_with(b"Exif\0\0") => {
                    header.orientation = exif_orientation(&body[6..]).unwrap_or(1);
                }
                0xE2 if body.starts_with(b"ICC_PROFILE\0") && body.len() >= 14 => {
                    icc_chunks.push((body[12], body[13], &body[14..]));
                }
                0xEE if body.starts_with(b"Adobe") && body.len() >= 12 => {
                    header.adobe_transform = Some(body[11]);
                }
                _ => {}
            }
        }
        if header.frame_marker == 0 {
            return Err(HeaderError::Malformed(
                "the first scan comes before any frame header",
            ));
        }
        header.icc = assemble_icc(icc_chunks);
        Ok(header)
    }

    fn read_frame(&mut self, marker: u8, body: &[u8]) -> Result<(), HeaderError> {
        let [precision, h1, h0, w1, w0, components, ..] = *body else {
            return Err(HeaderError::Malformed("the frame header is too short"));
        };
        self.frame_marker = marker;
        self.precision = precision;
        self.height = u32::from(u16::from_be_bytes([h1, h0]));
        self.width = u32::from(u16::from_be_bytes([w1, w0]));
        self.components = components;
        self.coefficient_bytes = coefficient_bytes(self.width, self.height, &body[6..]);
        Ok(())
    }

    /// Whether the frame is progressive, coded in scans over the whole image.
    pub(crate) fn is_progressive(&self) -> bool {
        matches!(self.frame_marker, 0xC2 | 0xC6 | 0xCA | 0xCE)
    }

    /// Why this JPEG cannot be decoded, when its frame is of a kind the
    /// pipeline does not handle.
    pub(crate) fn unsupported(&self) -> Option<String> {
        if matches!(self.frame_marker, 0xC3 | 0xC7 | 0xCB | 0xCF) {
            return Some("lossless JPEG".into());
        }
        if matches!(self.frame_marker, 0xC5..=0xC7 | 0xCD..=0xCF) {
            return Some("hierarchical JPEG".into());
        }
        if self.precision != 8 {
            return Some(format!("{}-bit samples", self.precision));
        }
        if !matches!(self.components, 1 | 3 | 4) {
            return Some(format!("{} colour components", self.components));
        }
        None
    }
}

/// The coefficient bytes of a `width` x `height` frame whose component
/// specifications (3 bytes each: id, sampling factors, table) are `specs`.
fn coefficient_bytes(width: u32, height: u32, specs: &[u8]) -> u64 {
    let sampling: Vec<(u64, u64)> = specs
        .chunks_exact(3)
        .map(|spec| {
            (
                u64::from(spec[1] >> 4).max(1),
                u64::from(spec[1] & 15).max(1),
            )
        })
        .collect();
    let h_max = sampling.iter().map(|s| s.0).max().unwrap_or(1);
    let v_max = sampling.iter().map(|s| s.1).max().unwrap_or(1);
    let (width, height) = (u64::from(width), u64::from(height));
    sampling
        .iter()
        .map(|&(h, v)| {
            // Whole 8x8 blocks of the component's own resolution, 64
            // coefficients of two bytes each.
            let blocks_wide = (width * h).div_ceil(h_max * 8);
            let blocks_high = (height * v).div_ceil(v_max * 8);
            blocks_wide * blocks_high * 128
        })
        .sum()
}

/// How many scans (SOS markers) the whole file holds: the segments are
/// walked and the entropy-coded data after each scan header searched for
/// the next marker, without decoding anything.
pub fn count_scans(bytes: &[u8]) -> u32 {
    let mut scans = 0u32;
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            at += 1;
            continue;
        }
        let marker = bytes[at + 1];
        match marker {
            0xFF => at += 1,
            0x00 | 0x01 | 0xD0..=0xD7 => at += 2,
            0xD9 => break,
            _ => {
                let length = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
                at += 2 + length;
                if marker == 0xDA {
                    scans = scans.saturating_add(1);
                    // Entropy-coded data: 0xFF is followed by 0x00 or a
                    // restart marker; anything else is the next marker.
                    while let Some(offset) = bytes
                        .get(at..)
                        .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
                    {
                        at += offset;
                        match bytes.get(at + 1) {
                            Some(0x00 | 0xD0..=0xD7 | 0xFF) => at += 1,
                            _ => break,
                        }
                    }
                }
            }
        }
    }
    scans
}

/// The orientation value of the first IFD of an EXIF TIFF block.
fn exif_orientation(tiff: &[u8]) -> Option<u8> {
    let big_endian = match tiff.get(..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    let u16_at = |at: usize| {
        let b = tiff.get(at..at + 2)?;
        Some(if big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| {
        let b = tiff.get(at..at + 4)?;
        let b = [b[0], b[1], b[2], b[3]];
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::from(u16_at(ifd)?);
    (0..entries).find_map(|i| {
        let entry = ifd + 2 + 12 * i;
        (u16_at(entry)? == 0x0112 && u16_at(entry + 2)? == 3)
            .then(|| u16_at(entry + 8))
            .flatten()
            .and_then(|value| u8::try_from(value).ok())
            .filter(|value| (1..=8).contains(value))
    })
}

/// The ICC profile from its numbered chunks, or nothing when any chunk is missing.
fn assemble_icc(mut chunks: Vec<(u8, u8, &[u8])>) -> Option<Vec<u8>> {
    let count = chunks.first()?.1;
    chunks.sort_by_key(|&(sequence, _, _)| sequence);
    let complete = chunks.len() == usize::from(count)
        && chunks
            .iter()
            .zip(1..=count)
            .all(|(&(sequence, total, _), expected)| sequence == expected && total == count);
    complete.then(|| {
        chunks
            .iter()
            .flat_map(|&(_, _, data)| data)
            .copied()
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{encoded, quadrants, with_exif_orientation, with_stray_bytes};
    use image::{DynamicImage, ImageFormat};

    fn jpeg() -> Vec<u8> {
        encoded(&DynamicImage::ImageRgb8(quadrants(24)), ImageFormat::Jpeg)
    }

    #[test]
    fn a_baseline_jpeg_reports_its_frame() {
        let header = JpegHeader::parse(&jpeg()).expect("parses");
        assert_eq!(
            (
                header.frame_marker,
                header.precision,
                header.width,
                header.height
            ),
            (0xC0, 8, 24, 24)
        );
        assert_eq!((header.components, header.orientation), (3, 1));
        assert_eq!(header.unsupported(), None);
    }

    #[test]
    fn the_exif_orientation_is_read() {
        let header = JpegHeader::parse(&with_exif_orientation(&jpeg(), 6)).expect("parses");
        assert_eq!(header.orientation, 6);
    }

    #[test]
    fn lossless_and_twelve_bit_frames_are_unsupported() {
        let mut header = JpegHeader::parse(&jpeg()).expect("parses");
        header.frame_marker = 0xC3;
        assert_eq!(header.unsupported().as_deref(), Some("lossless JPEG"));
        header.frame_marker = 0xC1;
        header.precision = 12;
        assert_eq!(header.unsupported().as_deref(), Some("12-bit samples"));
    }

    #[test]
    fn icc_chunks_are_joined_in_sequence_order() {
        let chunks = vec![(2, 2, &b"world"[..]), (1, 2, &b"hello "[..])];
        assert_eq!(assemble_icc(chunks).as_deref(), Some(&b"hello world"[..]));
        assert_eq!(assemble_icc(vec![(1, 2, &b"half"[..])]), None);
    }

    #[test]
    fn stray_bytes_between_segments_are_skipped() {
        let bytes = with_stray_bytes(&jpeg());
        let header = JpegHeader::parse(&bytes).expect("parses");
        assert_eq!((header.width, header.height), (24, 24));
    }

    #[test]
    fn a_header_cut_short_is_malformed() {
        let bytes = jpeg();
        assert!(JpegHeader::parse(&bytes[..40]).is_err());
    }
}
