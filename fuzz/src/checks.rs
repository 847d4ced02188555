//! What each fuzz target checks, shared with the regression test that
//! feeds every saved input under `fuzz/regressions/` through the same
//! functions under `cargo test`. Each function returns for any input; a
//! panic is a finding.

// Each fuzz target uses one of these; the regression test uses them all.
#![allow(dead_code)]

use std::str::FromStr;

use avatar_common::{JobId, ObjectKey, SourceUrl, UserId};
use avatar_format::{SNIFF_LEN, SourceFormat};
use avatar_pipeline::{Options, PipelineError, convert};

/// Small enough that each input converts in milliseconds.
const OPTIONS: Options = Options {
    size: 64,
    smaller: Vec::new(),
    quality: 80,
    max_pixels: 1_000_000,
    max_decode_bytes: 16 << 20,
    crop: None,
    placement: avatar_pipeline::Placement::Centre,
};

/// Bytes in, an avatar or an error out; never a panic caught as an
/// internal error, and every avatar a JPEG of the promised size.
pub fn pipeline(data: &[u8]) {
    match convert(data, &OPTIONS) {
        Ok(avatar) => {
            assert!(avatar.jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
            assert!(avatar.side >= 1 && avatar.side <= OPTIONS.size);
        }
        Err(PipelineError::Internal(why)) => panic!("internal error: {why}"),
        Err(_) => {}
    }
}

/// The sniffer decides from the first [`SNIFF_LEN`] bytes alone, and only
/// ever names an accepted format.
pub fn sniff_format(data: &[u8]) {
    let format = SourceFormat::detect(data);
    assert_eq!(
        format,
        SourceFormat::detect(&data[..data.len().min(SNIFF_LEN)])
    );
    if let Some(format) = format {
        assert!(SourceFormat::ALL.contains(&format));
    }
}

/// Each request parser either refuses the text or yields a value that
/// prints back to text it parses to again, within the documented limits.
pub fn parsers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(user) = UserId::from_str(text) {
        assert_eq!(user.as_str(), text);
        assert!((1..=64).contains(&text.len()));
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
    }
    if let Ok(job) = JobId::from_str(text) {
        assert_eq!(JobId::from_str(&job.to_string()).ok(), Some(job));
    }
    if let Ok(url) = SourceUrl::from_str(text) {
        assert!(matches!(url.as_url().scheme(), "http" | "https"));
        assert!(url.as_url().username().is_empty() && url.as_url().password().is_none());
        assert!(url.as_url().host().is_some());
        let again = SourceUrl::from_str(&url.to_string());
        assert!(again.is_ok(), "{url} does not parse again: {again:?}");
    }
    if let Ok(key) = ObjectKey::try_from(text.to_owned()) {
        assert!(
            key.segments()
                .all(|s| !s.is_empty() && s != "." && s != "..")
        );
        assert!(!text.starts_with('/') && !text.contains('\\'));
    }
}
