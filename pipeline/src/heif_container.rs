//! A walk over the boxes of a HEIC/HEIF or AVIF container before libheif
//! reads it: what no camera or editor writes is refused from the structure
//! alone, since libheif's reading of it can cost time or memory that no
//! security limit of libheif's bounds (its reference-cycle check walks
//! every `dimg` path, its sample tables are read in quadratic time and
//! kept per sample). The walk reads only box headers and counts, in time
//! linear in the file, and also gives the primary image's size (`ispe`), so
//! the conversion's time bound needs no libheif read at all.
//!
//! Refused: more than [`MAX_ITEMS`] items or [`MAX_REFERENCES`] item
//! references; a `dimg` derivation from the primary image that loops,
//! nests deeper than [`MAX_DERIVATION_DEPTH`] or has more than
//! [`MAX_DERIVATION_PATHS`] paths; a `moov` box in a file without an
//! image-sequence brand; more than [`MAX_TRACKS`] tracks, or a track with
//! more than [`MAX_SEQUENCE_FRAMES`] samples or sample-table entries.
//! Decoding the pixels stays libheif's.

use crate::PipelineError;
use crate::format::SourceFormat;

/// Most items a file may describe: a 200 MP Samsung grid has 822.
pub(crate) const MAX_ITEMS: u32 = 1000;
/// Most item references of all kinds: that grid's tiles are 768 of them.
pub(crate) const MAX_REFERENCES: usize = 4096;
/// Deepest chain of derived images below the primary one: a tone-mapped
/// grid of tiles is 2 deep.
pub(crate) const MAX_DERIVATION_DEPTH: u32 = 4;
/// Most paths along derivations from the primary image, the walk libheif's
/// cycle check makes: one per tile for a grid.
pub(crate) const MAX_DERIVATION_PATHS: u64 = 10_000;
/// Most tracks in an image sequence: frames, alpha, depth, metadata.
pub(crate) const MAX_TRACKS: usize = 8;
/// Most samples in one track, and entries in one of its sample tables: a
/// minute of animation at 50 frames per second.
pub(crate) const MAX_SEQUENCE_FRAMES: u32 = 3000;

/// Brands of the files that may carry tracks (`moov`): those libheif reads
/// as sequences (`msf1` and the ISO base media brands), and the HEVC, AVC
/// and AVIF sequence brands.
const SEQUENCE_BRANDS: [&[u8; 4]; 7] = [
    b"msf1", b"isom", b"mp41", b"mp42", b"hevs", b"avcs", b"avis",
];

/// What the walk learned of a container that passed it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Container {
    /// Width times height of the primary item's `ispe`, when it has one.
    pub primary_pixels: Option<u64>,
    /// The primary item's `ispe`: its coded width and height.
    pub primary_size: Option<(u32, u32)>,
    /// The primary item's type (`grid`, `hvc1`, `av01`, ...), when its
    /// `infe` says.
    pub primary_type: Option<[u8; 4]>,
    /// The primary item's transformative properties, in the order its
    /// `ipma` lists them, which is the order they apply in.
    pub transforms: Vec<Transform>,
}

/// A transformative property of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transform {
    /// `clap`: the clean aperture, as its eight numbers (width, height,
    /// horizontal and vertical offset of the centre, each a numerator and
    /// a denominator), and where its body starts in the file.
    Clap { numbers: [u32; 8], at: usize },
    /// `irot`: turned anticlockwise by this many quarter turns.
    Rotate(u8),
    /// `imir`: mirrored; libheif flips top to bottom for axis 0 and left
    /// to right for axis 1.
    Mirror { axis: u8 },
}

/// Walks `bytes`, a HEIF or AVIF file, refusing what cannot be a photo.
pub(crate) fn inspect(bytes: &[u8], format: SourceFormat) -> Result<Container, PipelineError> {
    let refuse = |detail: String| PipelineError::ImplausibleContainer {
        format: format.display_name(),
        detail,
    };
    let mut brands: Vec<[u8; 4]> = Vec::new();
    let mut container = Container::default();
    let mut moov = None;
    for item in Boxes::new(bytes) {
        let (kind, body) = item.map_err(damaged)?;
        match &kind {
            // The major brand, the minor version, the compatible brands.
            b"ftyp" => brands.extend(
                body.chunks_exact(4)
                    .enumerate()
                    .filter(|(i, _)| *i != 1)
                    .filter_map(|(_, b)| <[u8; 4]>::try_from(b).ok()),
            ),
            b"meta" => container = meta(bytes, full_body(body)?, &refuse)?,
            b"moov" => moov = Some(body),
            _ => {}
        }
    }
    if let Some(moov) = moov {
        if !brands.iter().any(|b| SEQUENCE_BRANDS.contains(&b)) {
            return Err(refuse(
                "it holds a movie (moov box) but no image-sequence brand".into(),
            ));
        }
        tracks(moov, &refuse)?;
    }
    Ok(container)
}

/// Checks a `meta` box's items and references; the primary item's size,
/// type and transformations. `file` is the whole file `body` is part of.
fn meta(
    file: &[u8],
    body: &[u8],
    refuse: &impl Fn(String) -> PipelineError,
) -> Result<Container, PipelineError> {
    let mut primary = None;
    let mut types = Vec::new();
    let mut references = Vec::new();
    let mut properties = None;
    let mut associations = None;
    for item in Boxes::new(body) {
        let (kind, body) = item.map_err(damaged)?;
        match &kind {
            b"pitm" => {
                let (version, body) = full_box(body)?;
                primary = Some(if version == 0 {
                    u16_at(body, 0)?.into()
                } else {
                    u32_at(body, 0)?
                });
            }
            b"iinf" => {
                let (version, body) = full_box(body)?;
                let count = if version == 0 {
                    u16_at(body, 0)?.into()
                } else {
                    u32_at(body, 0)?
                };
                if count > MAX_ITEMS {
                    return Err(refuse(format!(
                        "it describes {count} items; at most {MAX_ITEMS} are accepted"
                    )));
                }
                let entries = body
                    .get(if version == 0 { 2 } else { 4 }..)
                    .unwrap_or_default();
                types = item_types(entries);
            }
            b"iref" => references = item_references(body, refuse)?,
            b"iprp" => {
                for item in Boxes::new(body) {
                    let (kind, body) = item.map_err(damaged)?;
                    match &kind {
                        b"ipco" => properties = Some(body),
                        b"ipma" if associations.is_none() => associations = Some(body),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let Some(primary) = primary else {
        return Ok(Container::default());
    };
    derivations(primary, &references, refuse)?;
    let (primary_size, transforms) = match (properties, associations) {
        (Some(properties), Some(associations)) => {
            item_properties(file, primary, properties, associations).unwrap_or_default()
        }
        _ => Default::default(),
    };
    Ok(Container {
        primary_pixels: primary_size.map(|(w, h)| u64::from(w) * u64::from(h)),
        primary_size,
        transforms,
        primary_type: types
            .iter()
            .find(|(id, _)| *id == primary)
            .map(|(_, kind)| *kind),
    })
}

/// The id and type of each `infe` (version 2 or 3) among `entries`.
fn item_types(entries: &[u8]) -> Vec<(u32, [u8; 4])> {
    Boxes::new(entries)
        .map_while(Result::ok)
        .filter(|(kind, _)| kind == b"infe")
        .filter_map(|(_, body)| {
            let (version, body) = full_box(body).ok()?;
            let (id, at) = match version {
                2 => (u32::from(u16_at(body, 0).ok()?), 4),
                3 => (u32_at(body, 0).ok()?, 6),
                _ => return None,
            };
            Some((id, body.get(at..at + 4)?.try_into().ok()?))
        })
        .collect()
}

/// One reference of an `iref` box: its type and the two items it links.
struct Reference {
    kind: [u8; 4],
    from: u32,
    to: u32,
}

/// The references of an `iref` box, at most [`MAX_REFERENCES`] of them.
fn item_references(
    body: &[u8],
    refuse: &impl Fn(String) -> PipelineError,
) -> Result<Vec<Reference>, PipelineError> {
    let (version, body) = full_box(body)?;
    let id = |data: &[u8], at: usize| {
        if version == 0 {
            u16_at(data, at).map(u32::from)
        } else {
            u32_at(data, at)
        }
    };
    let width = if version == 0 { 2 } else { 4 };
    let mut references = Vec::new();
    for item in Boxes::new(body) {
        let (kind, body) = item.map_err(damaged)?;
        let from = id(body, 0)?;
        let count = usize::from(u16_at(body, width)?);
        if references.len() + count > MAX_REFERENCES {
            return Err(refuse(format!(
                "it has more than {MAX_REFERENCES} item references"
            )));
        }
        for index in 0..count {
            let to = id(body, width + 2 + index * width)?;
            references.push(Reference { kind, from, to });
        }
    }
    Ok(references)
}

/// Refuses a `dimg` derivation from `primary` that loops, nests too deep
/// or has too many paths. Depth-first, each item once: the paths below an
/// item are counted when its last child is done, saturating.
fn derivations(
    primary: u32,
    references: &[Reference],
    refuse: &impl Fn(String) -> PipelineError,
) -> Result<(), PipelineError> {
    use std::collections::HashMap;

    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for reference in references.iter().filter(|r| &r.kind == b"dimg") {
        children
            .entry(reference.from)
            .or_default()
            .push(reference.to);
    }
    /// An item's state in the walk: on the current path, or done with the
    /// depth and the number of paths below it (itself included).
    enum Seen {
        OnPath,
        Done { depth: u32, paths: u64 },
    }
    let mut seen: HashMap<u32, Seen> = HashMap::new();
    // (item, index of its next child)
    let mut stack: Vec<(u32, usize)> = vec![(primary, 0)];
    seen.insert(primary, Seen::OnPath);
    while let Some((item, next)) = stack.last_mut() {
        let kids = children.get(item).map_or(&[][..], Vec::as_slice);
        if let Some(&child) = kids.get(*next) {
            *next += 1;
            match seen.get(&child) {
                Some(Seen::OnPath) => {
                    return Err(refuse(
                        "its derived images refer to themselves in a loop".into(),
                    ));
                }
                Some(Seen::Done { .. }) => {}
                None => {
                    if stack.len() as u32 > MAX_DERIVATION_DEPTH {
                        return Err(refuse(format!(
                            "its images are derived more than {MAX_DERIVATION_DEPTH} levels deep"
                        )));
                    }
                    seen.insert(child, Seen::OnPath);
                    stack.push((child, 0));
                }
            }
            continue;
        }
        let (mut depth, mut paths) = (0u32, 1u64);
        for kid in kids {
            if let Some(Seen::Done { depth: d, paths: p }) = seen.get(kid) {
                depth = depth.max(d + 1);
                paths = paths.saturating_add(*p);
            }
        }
        if paths > MAX_DERIVATION_PATHS {
            return Err(refuse(format!(
                "its derived images reach their parts along more than {MAX_DERIVATION_PATHS} paths"
            )));
        }
        let item = *item;
        seen.insert(item, Seen::Done { depth, paths });
        stack.pop();
    }
    Ok(())
}

/// Width times height of the `ispe` property associated with `item`.
/// An item's `ispe` size, if it has one, and its transformative
/// properties in order.
type ItemProperties = (Option<(u32, u32)>, Vec<Transform>);

/// The `ispe` size and the transformative properties of `item`, from
/// the `ipco` and `ipma` bodies of `file`.
fn item_properties(
    file: &[u8],
    item: u32,
    properties: &[u8],
    associations: &[u8],
) -> Option<ItemProperties> {
    /// What one property box is, of those read here.
    enum Property {
        Extent(u32, u32),
        Transform(Transform),
        Other,
    }
    let listed: Vec<Property> = Boxes::new(properties)
        .map(|property| {
            let Ok((kind, body)) = property else {
                return Property::Other;
            };
            let read = || -> Option<Property> {
                Some(match &kind {
                    b"ispe" => {
                        let (_, body) = full_box(body).ok()?;
                        Property::Extent(u32_at(body, 0).ok()?, u32_at(body, 4).ok()?)
                    }
                    b"clap" => {
                        let mut numbers = [0u32; 8];
                        for (i, number) in numbers.iter_mut().enumerate() {
                            *number = u32_at(body, 4 * i).ok()?;
                        }
                        // The body is a slice of the file: where it starts.
                        let at = body.as_ptr() as usize - file.as_ptr() as usize;
                        Property::Transform(Transform::Clap { numbers, at })
                    }
                    b"irot" => Property::Transform(Transform::Rotate(body.first()? & 3)),
                    b"imir" => Property::Transform(Transform::Mirror {
                        axis: body.first()? & 1,
                    }),
                    _ => Property::Other,
                })
            };
            read().unwrap_or(Property::Other)
        })
        .collect();
    let (version, flags, body) = full_box_flags(associations).ok()?;
    let count = u32_at(body, 0).ok()?;
    let mut at = 4usize;
    let (mut extent, mut transforms) = (None, Vec::new());
    for _ in 0..count {
        let id = if version == 0 {
            at += 2;
            u32::from(u16_at(body, at - 2).ok()?)
        } else {
            at += 4;
            u32_at(body, at - 4).ok()?
        };
        let count = usize::from(*body.get(at)?);
        at += 1;
        let wide = flags & 1 == 1;
        for _ in 0..count {
            let index = if wide {
                at += 2;
                usize::from(u16_at(body, at - 2).ok()? & 0x7fff)
            } else {
                at += 1;
                usize::from(body.get(at - 1)? & 0x7f)
            };
            if id != item {
                continue;
            }
            match index.checked_sub(1).and_then(|i| listed.get(i)) {
                Some(Property::Extent(w, h)) => extent = extent.or(Some((*w, *h))),
                Some(Property::Transform(transform)) => transforms.push(*transform),
                _ => {}
            }
        }
    }
    Some((extent, transforms))
}

/// Checks the tracks of a `moov` box and their sample tables.
fn tracks(moov: &[u8], refuse: &impl Fn(String) -> PipelineError) -> Result<(), PipelineError> {
    let mut count = 0usize;
    for item in Boxes::new(moov) {
        let (kind, body) = item.map_err(damaged)?;
        if &kind != b"trak" {
            continue;
        }
        count += 1;
        if count > MAX_TRACKS {
            return Err(refuse(format!("it has more than {MAX_TRACKS} tracks")));
        }
        let Some(stbl) = child(body, b"mdia")
            .and_then(|mdia| child(mdia, b"minf"))
            .and_then(|minf| child(minf, b"stbl"))
        else {
            continue;
        };
        for item in Boxes::new(stbl) {
            let (kind, body) = item.map_err(damaged)?;
            let Some(entries) = table_entries(&kind, body) else {
                continue;
            };
            if entries > MAX_SEQUENCE_FRAMES {
                let name = String::from_utf8_lossy(&kind).into_owned();
                return Err(refuse(format!(
                    "a track's {name} table has {entries} entries; at most {MAX_SEQUENCE_FRAMES} frames are accepted"
                )));
            }
        }
    }
    Ok(())
}

/// The entry count of a sample table box, or the samples it counts, for
/// the tables libheif reads per sample; `None` for other boxes.
fn table_entries(kind: &[u8; 4], body: &[u8]) -> Option<u32> {
    let (_, flags, body) = full_box_flags(body).ok()?;
    // Where the count sits after the version and flags.
    let at = match kind {
        b"stts" | b"ctts" | b"stsc" | b"stco" | b"co64" | b"stss" | b"sdtp" | b"elst" => 0,
        // sample_size (stsz), reserved and field size (stz2), then the count.
        b"stsz" | b"stz2" => 4,
        // grouping_type, and its parameter from version 1.
        b"sbgp" => 4,
        // aux_info_type and its parameter when flags say so; the default size.
        b"saiz" => 1 + if flags & 1 == 1 { 8 } else { 0 },
        b"saio" => {
            if flags & 1 == 1 {
                8
            } else {
                0
            }
        }
        _ => return None,
    };
    // sdtp has no count: one byte per sample.
    if kind == b"sdtp" {
        return u32::try_from(body.len()).ok();
    }
    u32_at(body, at).ok()
}

/// The body of the first child box of `kind` in `body`.
fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    Boxes::new(body)
        .map_while(Result::ok)
        .find(|(k, _)| k == kind)
        .map(|(_, body)| body)
}

/// The boxes in `data`, one after another: a box whose size overruns what
/// holds it ends the walk with an error; fewer than 8 bytes left end it.
struct Boxes<'a> {
    data: &'a [u8],
}

impl<'a> Boxes<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data }
    }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = Result<([u8; 4], &'a [u8]), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.len() < 8 {
            return None;
        }
        let size = u64::from(u32::from_be_bytes(self.data[..4].try_into().ok()?));
        let kind: [u8; 4] = self.data[4..8].try_into().ok()?;
        let (header, size) = match size {
            0 => (8, self.data.len() as u64),
            1 => {
                let large = self.data.get(8..16)?;
                (16, u64::from_be_bytes(large.try_into().ok()?))
            }
            n => (8, n),
        };
        let Some(size) = usize::try_from(size)
            .ok()
            .filter(|s| (header..=self.data.len()).contains(s))
        else {
            self.data = &[];
            return Some(Err("a box's size does not fit the file"));
        };
        let body = &self.data[header..size];
        self.data = &self.data[size..];
        Some(Ok((kind, body)))
    }
}

/// The body of a full box, after its version and flags.
fn full_body(body: &[u8]) -> Result<&[u8], PipelineError> {
    full_box(body).map(|(_, body)| body)
}

/// A full box's version and the body after its version and flags.
fn full_box(body: &[u8]) -> Result<(u8, &[u8]), PipelineError> {
    full_box_flags(body).map(|(version, _, body)| (version, body))
}

/// A full box's version, flags and the body after them.
fn full_box_flags(body: &[u8]) -> Result<(u8, u32, &[u8]), PipelineError> {
    let head = u32_at(body, 0)?;
    Ok(((head >> 24) as u8, head & 0x00ff_ffff, &body[4..]))
}

fn u16_at(data: &[u8], at: usize) -> Result<u16, PipelineError> {
    data.get(at..at + 2)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_be_bytes)
        .ok_or_else(cut_short)
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, PipelineError> {
    data.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(cut_short)
}

/// A box that overruns what holds it: the file is cut short or damaged.
fn damaged(error: &'static str) -> PipelineError {
    PipelineError::Corrupt(format!("the HEIF container is cut short: {error}"))
}

fn cut_short() -> PipelineError {
    PipelineError::Corrupt("a HEIF box ends before its fields do".into())
}

#[cfg(test)]
mod tests;
