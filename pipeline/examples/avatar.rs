//! Converts image files into avatars from the command line, to try the
//! pipeline by hand: `avatar OUT_DIR FILE...` writes `OUT_DIR/<name>.jpg` for
//! each file and prints the time it took or the error it gave.

use std::path::Path;
use std::time::Instant;

use avatar_pipeline::{Options, convert};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(out_dir) = args.next() else {
        eprintln!("usage: avatar OUT_DIR FILE...");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&out_dir)?;
    for file in args {
        let bytes = std::fs::read(&file)?;
        let started = Instant::now();
        let result = convert(&bytes, &Options::default());
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(avatar) => {
                let stem = Path::new(&file).file_stem().unwrap_or_default();
                let out = Path::new(&out_dir).join(format!("{}.jpg", stem.to_string_lossy()));
                std::fs::write(&out, &avatar.jpeg)?;
                println!(
                    "{file}: {} {}px {} bytes in {ms:.1} ms",
                    avatar.source_format,
                    avatar.side,
                    avatar.jpeg.len()
                );
            }
            Err(error) => println!("{file}: {} \"{error}\" in {ms:.1} ms", error.code()),
        }
    }
    Ok(())
}
