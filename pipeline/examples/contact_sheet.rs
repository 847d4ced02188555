//! Writes a contact sheet of what each crop chooses: one row per picture,
//! the centre square's avatar, the attention crop's and the face crop's,
//! 128 pixels each, for every picture named and every picture in the
//! folders named.
//!
//!     cargo run --release -p avatar-pipeline --example contact_sheet -- \
//!       docs/crops.png pipeline/tests/fixtures/faces ../shared/corpus/photos
//!
//! The rows' order (argument by argument, a folder's file names sorted)
//! is printed.

use avatar_pipeline::{Options, Placement, convert};
use image::{ImageFormat, Rgb, RgbImage};

const SIDE: u32 = 128;
const GAP: u32 = 8;
/// The columns, left to right.
const PLACEMENTS: [Placement; 3] = [Placement::Centre, Placement::Attention, Placement::Face];

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: contact_sheet OUT.png PICTURE-OR-FOLDER...");
        std::process::exit(2);
    };
    let mut rows = Vec::new();
    for named in args {
        let named = std::path::PathBuf::from(named);
        let mut files: Vec<_> = match named.is_dir() {
            true => std::fs::read_dir(&named)
                .expect("a readable folder")
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .collect(),
            false => vec![named],
        };
        files.sort();
        for path in files {
            let bytes = std::fs::read(&path).expect("a corpus file");
            let made = PLACEMENTS.map(|placement| {
                let options = Options {
                    size: SIDE,
                    placement,
                    ..Options::default()
                };
                convert(&bytes, &options).ok().and_then(|avatar| {
                    image::load_from_memory(&avatar.jpeg)
                        .ok()
                        .map(|i| i.to_rgb8())
                })
            });
            if let [Some(centre), Some(attention), Some(face)] = made {
                println!("{}", path.display());
                rows.push([centre, attention, face]);
            }
        }
    }
    let width = PLACEMENTS.len() as u32 * (SIDE + GAP) + GAP;
    let height = rows.len() as u32 * (SIDE + GAP) + GAP;
    let mut sheet = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    for (i, row) in rows.iter().enumerate() {
        let top = GAP + i as u32 * (SIDE + GAP);
        for (column, avatar) in row.iter().enumerate() {
            let left = GAP + column as u32 * (SIDE + GAP);
            // A picture smaller than the side is centred in its place.
            let (dx, dy) = ((SIDE - avatar.width()) / 2, (SIDE - avatar.height()) / 2);
            image::imageops::replace(
                &mut sheet,
                avatar,
                i64::from(left + dx),
                i64::from(top + dy),
            );
        }
    }
    sheet
        .save_with_format(&out, ImageFormat::Png)
        .expect("cannot write the sheet");
    eprintln!("{} rows in {out}", rows.len());
}
