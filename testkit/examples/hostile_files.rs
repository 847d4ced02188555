//! Writes the crafted files of `avatar_testkit::hostile` and
//! `avatar_testkit::hostile_heif` into a folder, to measure what each
//! costs a worker:
//!
//!     cargo run -p avatar-testkit --example hostile_files -- /tmp/hostile
//!     /usr/bin/time -v avatar-worker convert -o /tmp/out /tmp/hostile/*

use std::path::PathBuf;

use avatar_testkit::{hostile, hostile_heif};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "hostile".into()));
    std::fs::create_dir_all(&dir)?;
    let files = [
        (
            "scan-flood-10000x10000-490.jpg",
            hostile::progressive_jpeg(10_000, 10_000, 490),
        ),
        (
            "progressive-10000x10000-3.jpg",
            hostile::progressive_jpeg(10_000, 10_000, 3),
        ),
        (
            "screen-10000x10000.gif",
            hostile::gif_with_screen(10_000, 10_000),
        ),
        (
            "rgba16-10000x10000.png",
            hostile::png_16_bit_rgba(10_000, 10_000),
        ),
        ("rle8-10000x10000.bmp", hostile::bmp_rle8(10_000, 10_000)),
        ("reference-fan-30.heic", hostile_heif::reference_fan(30)),
        (
            "sample-bomb-18000000.heic",
            hostile_heif::sample_bomb(18_000_000),
        ),
        (
            "stts-200000.heic",
            hostile_heif::sample_table_flood(200_000),
        ),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), &bytes)?;
        println!("{name}: {} bytes", bytes.len());
    }
    Ok(())
}
