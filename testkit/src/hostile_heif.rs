//! HEIC containers crafted to cost libheif's reading of them far more than
//! their size, built box by box so that a test holds no binary fixture:
//! an item-reference graph whose paths grow as 2^k, a movie track that
//! declares millions of samples, and sample tables of many entries. None
//! holds a decodable picture; each is refused, or costs its reader, before
//! any pixel is decoded. `avatar-worker` tests and the pipeline's unit
//! tests use the same files.

/// A box of `kind` with `body`.
pub fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let size = u32::try_from(body.len() + 8).expect("a box under 4 GiB");
    [&size.to_be_bytes()[..], kind, body].concat()
}

/// A full box (version 0, flags 0) of `kind` with `body`.
pub fn full_boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    boxed(kind, &[&[0, 0, 0, 0][..], body].concat())
}

/// `ftyp` with `major` and the compatible `brands`.
pub fn ftyp(major: &[u8; 4], brands: &[&[u8; 4]]) -> Vec<u8> {
    let mut body = major.to_vec();
    body.extend_from_slice(&[0; 4]);
    for brand in brands {
        body.extend_from_slice(*brand);
    }
    boxed(b"ftyp", &body)
}

/// A still-image `meta` box of `items` items (item 1 primary, a 64x64
/// `ispe` on each) with the `dimg` references `links` (from, to...).
pub fn meta(items: u16, links: &[(u16, Vec<u16>)]) -> Vec<u8> {
    let hdlr = full_boxed(b"hdlr", &[&[0; 4][..], b"pict", &[0; 12], &[0]].concat());
    let pitm = full_boxed(b"pitm", &1u16.to_be_bytes());
    let mut iinf = items.to_be_bytes().to_vec();
    for id in 1..=items {
        let kind: &[u8; 4] = if id == items { b"hvc1" } else { b"grid" };
        let infe = [&id.to_be_bytes()[..], &[0, 0], kind, &[0]].concat();
        // infe version 2.
        iinf.extend(boxed(b"infe", &[&[2, 0, 0, 0][..], &infe].concat()));
    }
    let iinf = full_boxed(b"iinf", &iinf);
    let mut iref = Vec::new();
    for (from, to) in links {
        let count = u16::try_from(to.len()).expect("at most 65535 references");
        let mut body = [from.to_be_bytes(), count.to_be_bytes()].concat();
        for id in to {
            body.extend_from_slice(&id.to_be_bytes());
        }
        iref.extend(boxed(b"dimg", &body));
    }
    let iref = full_boxed(b"iref", &iref);
    let ispe = full_boxed(
        b"ispe",
        &[64u32.to_be_bytes(), 64u32.to_be_bytes()].concat(),
    );
    let ipco = boxed(b"ipco", &ispe);
    let mut ipma = u32::from(items).to_be_bytes().to_vec();
    for id in 1..=items {
        ipma.extend_from_slice(&id.to_be_bytes());
        // One association: property 1, essential.
        ipma.extend_from_slice(&[1, 0x81]);
    }
    let iprp = boxed(b"iprp", &[ipco, full_boxed(b"ipma", &ipma)].concat());
    // iloc version 0: 4-byte offsets and lengths, no base offset, no items.
    let iloc = full_boxed(b"iloc", &[0x44, 0x00, 0, 0]);
    full_boxed(b"meta", &[hdlr, pitm, iloc, iinf, iref, iprp].concat())
}

/// A HEIC whose `k` items each derive from every later one: item *i*
/// refers to items *i+1 … k*. libheif's reference-cycle check walks every
/// path, 2^(k-2) of them, as it reads the file: k = 28 takes it seconds,
/// each further item doubles that.
pub fn reference_fan(k: u16) -> Vec<u8> {
    let links: Vec<(u16, Vec<u16>)> = (1..k).map(|i| (i, ((i + 1)..=k).collect())).collect();
    [ftyp(b"heic", &[b"mif1", b"heic"]), meta(k, &links)].concat()
}

/// A `moov` box with one metadata track whose sample tables declare
/// `samples` samples in a few bytes (one `stts` run, a constant `stsz`).
fn movie(samples: u32, stts_entries: u32) -> Vec<u8> {
    let mvhd = full_boxed(b"mvhd", &[0u8; 96]);
    let tkhd = full_boxed(b"tkhd", &[0u8; 80]);
    let mdhd = full_boxed(b"mdhd", &[0u8; 20]);
    let hdlr = full_boxed(b"hdlr", &[&[0; 4][..], b"meta", &[0; 12], &[0]].concat());
    let stsd = full_boxed(
        b"stsd",
        &[&1u32.to_be_bytes()[..], &boxed(b"mett", &[0u8; 10])].concat(),
    );
    // `stts_entries` runs sharing out the samples, one frame each but the last.
    let mut stts = stts_entries.to_be_bytes().to_vec();
    for run in 0..stts_entries {
        let count = if run + 1 == stts_entries {
            samples - (stts_entries - 1)
        } else {
            1
        };
        stts.extend_from_slice(&count.to_be_bytes());
        stts.extend_from_slice(&1u32.to_be_bytes());
    }
    let stts = full_boxed(b"stts", &stts);
    let stsc = full_boxed(
        b"stsc",
        &[1u32, 1, samples, 1]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<u8>>(),
    );
    let stsz = full_boxed(
        b"stsz",
        &[1u32, samples]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<u8>>(),
    );
    let stco = full_boxed(
        b"stco",
        &[1u32, 0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<u8>>(),
    );
    let stbl = boxed(b"stbl", &[stsd, stts, stsc, stsz, stco].concat());
    let minf = boxed(b"minf", &stbl);
    let mdia = boxed(b"mdia", &[mdhd, hdlr, minf].concat());
    let trak = boxed(b"trak", &[tkhd, mdia].concat());
    boxed(b"moov", &[mvhd, trak].concat())
}

/// A still HEIC carrying a movie track of `samples` samples: libheif keeps
/// vectors per sample that its memory limit does not count (18 million
/// samples, the most it allows, cost it gigabytes), though the file has no
/// image-sequence brand.
pub fn sample_bomb(samples: u32) -> Vec<u8> {
    [
        ftyp(b"heic", &[b"mif1", b"heic"]),
        meta(1, &[]),
        movie(samples, 1),
    ]
    .concat()
}

/// An image sequence whose one track has a time-to-sample table of
/// `entries` entries: libheif reads such tables in time quadratic in their
/// length (200,000 entries, 1.6 MB, take it seconds).
pub fn sample_table_flood(entries: u32) -> Vec<u8> {
    [
        ftyp(b"msf1", &[b"msf1", b"heic", b"mif1"]),
        meta(1, &[]),
        movie(entries, entries),
    ]
    .concat()
}
