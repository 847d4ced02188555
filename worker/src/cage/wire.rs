//! What the worker and a converter process say to each other over the
//! converter's standard input and output: frames of a little-endian `u64`
//! length and that many bytes. The messages are built and read here, for
//! both sides; moving them (blocking in the converter, async in the
//! worker) belongs to `child` and `converter`.
//!
//! A job is two frames to the converter, the [`Request`] and the source,
//! sent as it is, uncopied; then two frames back: the [`Bound`] its
//! header gives (so the worker knows how long to wait), and a [`Reply`]
//! (the avatar with its smaller sides, its placeholder and how long each
//! stage took, or the refusal).

use std::time::Duration;

use avatar_pipeline::{Options, Placement, Resized, Stages, TimeBudget};

/// The longest frame either side accepts: the largest upload, and more.
pub const MAX_FRAME: u64 = 1 << 30;

/// The length prefix of a frame of `len` bytes.
pub fn prefix(len: usize) -> [u8; 8] {
    (len as u64).to_le_bytes()
}

/// A frame length read from its prefix, refused past [`MAX_FRAME`].
pub fn frame_len(prefix: [u8; 8]) -> Result<usize, WireError> {
    let len = u64::from_le_bytes(prefix);
    if len > MAX_FRAME {
        return Err(WireError("a frame longer than any image"));
    }
    usize::try_from(len).map_err(|_| WireError("a frame longer than memory"))
}

/// A message that does not read as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a converter message is malformed: {0}")]
pub struct WireError(&'static str);

impl WireError {
    /// The input ended inside a job.
    pub const CUT_SHORT: Self = Self("the input ended inside a job");
}

/// What one conversion is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub options: Options,
    /// How long the conversion may take, by the size of its image.
    pub budget: TimeBudget,
    /// What the converter's log lines of this conversion name it by: the
    /// job id, or a file name (at most 255 bytes are sent).
    pub label: String,
}

impl Request {
    const FIXED: usize = 4 + 1 + 8 + 8 + 1 + 4 * 8 + 1 + 1 + 3 * 8;

    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(Self::FIXED + 4 * self.options.smaller.len() + 1 + self.label.len());
        out.extend_from_slice(&self.options.size.to_le_bytes());
        out.push(self.options.quality);
        out.extend_from_slice(&self.options.max_pixels.to_le_bytes());
        out.extend_from_slice(&self.options.max_decode_bytes.to_le_bytes());
        // A crop: a flag, then its four fractions (zeros without one).
        let crop = self.options.crop;
        out.push(u8::from(crop.is_some()));
        let [left, top, width, height] =
            crop.map_or([0.0; 4], |c| [c.left, c.top, c.width, c.height]);
        for fraction in [left, top, width, height] {
            out.extend_from_slice(&fraction.to_le_bytes());
        }
        out.push(match self.options.placement {
            Placement::Centre => 0,
            Placement::Attention => 1,
            Placement::Face => 2,
        });
        // The smaller sides: their count, then each.
        out.push(self.options.smaller.len().min(usize::from(u8::MAX)) as u8);
        for side in self.options.smaller.iter().take(usize::from(u8::MAX)) {
            out.extend_from_slice(&side.to_le_bytes());
        }
        for time in [
            self.budget.base,
            self.budget.per_megapixel,
            self.budget.ceiling,
        ] {
            out.extend_from_slice(&millis(time).to_le_bytes());
        }
        push_short(&mut out, &self.label);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut at = Reader { bytes, at: 0 };
        let request = Self {
            options: Options {
                size: at.u32()?,
                quality: at.u8()?,
                max_pixels: at.u64()?,
                max_decode_bytes: at.u64()?,
                crop: at.crop()?,
                placement: match at.u8()? {
                    0 => Placement::Centre,
                    1 => Placement::Attention,
                    2 => Placement::Face,
                    _ => return Err(WireError("a placement of no known kind")),
                },
                smaller: at.sides()?,
            },
            budget: TimeBudget {
                base: Duration::from_millis(at.u64()?),
                per_megapixel: Duration::from_millis(at.u64()?),
                ceiling: Duration::from_millis(at.u64()?),
            },
            label: at.short()?,
        };
        if at.at != bytes.len() {
            return Err(WireError("a request with bytes after its end"));
        }
        Ok(request)
    }
}

/// How long the conversion of the source may take, from its header, read
/// by the converter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound(pub Duration);

impl Bound {
    pub fn encode(self) -> [u8; 8] {
        millis(self.0).to_le_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let millis: [u8; 8] = bytes
            .try_into()
            .map_err(|_| WireError("a bound of the wrong length"))?;
        Ok(Self(Duration::from_millis(u64::from_le_bytes(millis))))
    }
}

/// What became of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The avatar.
    Avatar {
        side: u32,
        source_format: String,
        /// How long decoding, resizing and encoding took.
        stages: Stages,
        /// Its ThumbHash.
        placeholder: Vec<u8>,
        /// Its smaller sides, largest first.
        smaller: Vec<Resized>,
        jpeg: Vec<u8>,
    },
    /// The pipeline refused the image: its error's code and message.
    Refused { code: String, message: String },
}

impl From<Result<avatar_pipeline::Avatar, avatar_pipeline::PipelineError>> for Reply {
    fn from(converted: Result<avatar_pipeline::Avatar, avatar_pipeline::PipelineError>) -> Self {
        match converted {
            Ok(avatar) => Self::Avatar {
                side: avatar.side,
                source_format: avatar.source_format.to_owned(),
                stages: avatar.stages,
                placeholder: avatar.placeholder,
                smaller: avatar.smaller,
                jpeg: avatar.jpeg,
            },
            Err(e) => Self::Refused {
                code: e.code().to_owned(),
                message: e.to_string(),
            },
        }
    }
}

const AVATAR: u8 = b'A';
const REFUSED: u8 = b'R';

impl Reply {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Avatar {
                side,
                source_format,
                stages,
                placeholder,
                smaller,
                jpeg,
            } => {
                let resized: usize = smaller.iter().map(|r| 16 + r.jpeg.len()).sum();
                let mut out = Vec::with_capacity(
                    32 + source_format.len() + placeholder.len() + resized + jpeg.len(),
                );
                out.push(AVATAR);
                out.extend_from_slice(&side.to_le_bytes());
                for took in [stages.decode, stages.resize, stages.encode] {
                    out.extend_from_slice(&micros(took).to_le_bytes());
                }
                push_short(&mut out, source_format);
                // A ThumbHash is at most 25 bytes.
                out.push(placeholder.len().min(255) as u8);
                out.extend_from_slice(&placeholder[..placeholder.len().min(255)]);
                out.push(smaller.len().min(255) as u8);
                for resized in smaller.iter().take(255) {
                    out.extend_from_slice(&resized.requested.to_le_bytes());
                    out.extend_from_slice(&resized.side.to_le_bytes());
                    out.extend_from_slice(&(resized.jpeg.len() as u64).to_le_bytes());
                    out.extend_from_slice(&resized.jpeg);
                }
                out.extend_from_slice(jpeg);
                out
            }
            Self::Refused { code, message } => {
                let mut out = vec![REFUSED];
                push_short(&mut out, code);
                out.extend_from_slice(message.as_bytes());
                out
            }
        }
    }

    /// Reads a reply, taking the JPEG out of `frame` without copying it.
    pub fn decode(mut frame: Vec<u8>) -> Result<Self, WireError> {
        let mut at = Reader {
            bytes: &frame,
            at: 0,
        };
        match at.u8()? {
            AVATAR => {
                let side = at.u32()?;
                let stages = Stages {
                    decode: Duration::from_micros(at.u64()?),
                    resize: Duration::from_micros(at.u64()?),
                    encode: Duration::from_micros(at.u64()?),
                };
                let source_format = at.short()?;
                let len = usize::from(at.u8()?);
                let placeholder = at.bytes(len)?.to_vec();
                let mut smaller = Vec::new();
                for _ in 0..at.u8()? {
                    let (requested, side) = (at.u32()?, at.u32()?);
                    let len = usize::try_from(at.u64()?)
                        .map_err(|_| WireError("a side longer than memory"))?;
                    let jpeg = at.bytes(len)?.to_vec();
                    smaller.push(Resized {
                        requested,
                        side,
                        jpeg,
                    });
                }
                let header = at.at;
                frame.drain(..header);
                Ok(Self::Avatar {
                    side,
                    source_format,
                    stages,
                    placeholder,
                    smaller,
                    jpeg: frame,
                })
            }
            REFUSED => {
                let code = at.short()?;
                let message = String::from_utf8_lossy(&frame[at.at..]).into_owned();
                Ok(Self::Refused { code, message })
            }
            _ => Err(WireError("a reply of no known kind")),
        }
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A string of at most 255 bytes (cut at a character's end), after its
/// length.
fn push_short(out: &mut Vec<u8>, text: &str) {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text.as_bytes()[..end];
    out.push(text.len() as u8);
    out.extend_from_slice(text);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let taken = self
            .bytes
            .get(self.at..self.at + N)
            .and_then(|b| b.try_into().ok())
            .ok_or(WireError("a message cut short"))?;
        self.at += N;
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        self.take().map(u64::from_le_bytes)
    }

    fn f64(&mut self) -> Result<f64, WireError> {
        self.take().map(f64::from_le_bytes)
    }

    /// A crop as `Request::encode` writes it, checked as the API checks it.
    fn crop(&mut self) -> Result<Option<avatar_pipeline::Crop>, WireError> {
        let given = self.u8()? != 0;
        let crop = avatar_pipeline::Crop {
            left: self.f64()?,
            top: self.f64()?,
            width: self.f64()?,
            height: self.f64()?,
        };
        if !given {
            return Ok(None);
        }
        crop.check()
            .map_err(|_| WireError("a crop outside the image"))?;
        Ok(Some(crop))
    }

    /// The smaller sides as `Request::encode` writes them.
    fn sides(&mut self) -> Result<Vec<u32>, WireError> {
        (0..self.u8()?).map(|_| self.u32()).collect()
    }

    fn bytes(&mut self, len: usize) -> Result<&[u8], WireError> {
        let bytes = self
            .bytes
            .get(self.at..self.at.saturating_add(len))
            .ok_or(WireError("a message cut short"))?;
        self.at += len;
        Ok(bytes)
    }

    fn short(&mut self) -> Result<String, WireError> {
        let len = usize::from(self.u8()?);
        let text = self.bytes(len)?;
        Ok(String::from_utf8_lossy(text).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_back_as_written() {
        let request = Request {
            options: Options {
                size: 256,
                quality: 80,
                max_pixels: 12_345_678,
                max_decode_bytes: 96 << 20,
                crop: Some(avatar_pipeline::Crop {
                    left: 0.125,
                    top: 0.25,
                    width: 0.5,
                    height: 0.3,
                }),
                smaller: vec![128, 64],
                placement: Placement::Face,
            },
            budget: TimeBudget {
                base: Duration::from_millis(2_500),
                per_megapixel: Duration::from_millis(300),
                ceiling: Duration::from_millis(61_500),
            },
            label: "01M8SNAAN6MCVG1PP2AZC0CYDT".into(),
        };
        assert_eq!(Request::decode(&request.encode()), Ok(request));
        assert!(Request::decode(&[0; 5]).is_err());
    }

    #[test]
    fn replies_read_back_as_written() {
        let avatar = Reply::Avatar {
            side: 512,
            source_format: "heif".into(),
            stages: Stages {
                decode: Duration::from_micros(41_250),
                resize: Duration::from_micros(3_100),
                encode: Duration::from_micros(1_999),
            },
            placeholder: vec![7, 8, 9],
            smaller: vec![Resized {
                requested: 128,
                side: 100,
                jpeg: vec![0xFF, 0xD8, 4, 0xFF, 0xD9],
            }],
            jpeg: vec![0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9],
        };
        assert_eq!(Reply::decode(avatar.encode()), Ok(avatar));
        let refused = Reply::Refused {
            code: "image_rejected".into(),
            message: "the file is truncated or corrupt: ü".into(),
        };
        assert_eq!(Reply::decode(refused.encode()), Ok(refused));
        assert!(Reply::decode(vec![b'A', 1]).is_err());
        assert!(Reply::decode(vec![b'?']).is_err());
    }

    #[test]
    fn a_bound_reads_back_and_a_huge_frame_is_refused() {
        let bound = Bound(Duration::from_millis(2250));
        assert_eq!(Bound::decode(&bound.encode()), Ok(bound));
        assert!(frame_len(prefix(100)).is_ok());
        assert!(frame_len((MAX_FRAME + 1).to_le_bytes()).is_err());
    }
}
