//! The avatar image pipeline: whatever image bytes a user uploads in, a clean
//! square avatar JPEG out.
//!
//! # Layout
//!
//! - [`convert`] runs the whole pipeline and never panics.
//! - `format` recognises the container from the bytes; `dimensions` refuses
//!   oversized images from the header, and `cost` what would need too much
//!   memory or, for a progressive JPEG, too many scans; [`TimeBudget`] sizes
//!   a conversion's time limit from the header.
//! - `decode` turns the bytes into a `frame`: JPEG through libjpeg-turbo with
//!   scaled decoding of only the square's region (`jpeg`, `jpeg_header`,
//!   `jpeg_region`), still WebP through libwebp (`webp`), HEIC/HEIF and
//!   AVIF through libheif (`heif`, after `heif_container` refuses the
//!   structures no photo has and `clean_aperture` opens a `clap` box that
//!   libheif 1.23 cannot decode through, with `heif_tiles` decoding only the
//!   tiles of a grid that the square needs, and `hdr` tone-mapping PQ and
//!   HLG),
//!   other formats
//!   through the `image` crate, with `flatten` putting transparency onto
//!   white.
//! - `square` picks the centre crop (or `attention` the most interesting
//!   square, or `face` the one on the largest face), `resize` scales it, `orient` turns it
//!   upright, `colour` converts embedded profiles and CMYK to sRGB, `encode`
//!   writes the progressive JPEG; each smaller side is scaled from the
//!   next larger one, and `placeholder` makes the ThumbHash of the smallest.
//! - [`Options`], [`Avatar`] and [`PipelineError`] are what callers see.

mod attention;
mod avatar;
mod clean_aperture;
mod colour;
mod convert;
mod cost;
mod decode;
mod dimensions;
mod encode;
mod error;
mod face;
mod flatten;
mod format;
mod frame;
mod hdr;
mod heif;
mod heif_container;
mod heif_tiles;
mod jpeg;
mod jpeg_header;
mod jpeg_region;
mod options;
mod orient;
mod placeholder;
mod resize;
mod square;
mod webp;

#[cfg(test)]
mod fixtures;

pub use avatar::{Avatar, Resized, Stages};
pub use avatar_format::Crop;
pub use convert::convert;
pub use cost::TimeBudget;
pub use error::PipelineError;
pub use jpeg_header::count_scans as jpeg_scans;
pub use options::{Options, Placement};
