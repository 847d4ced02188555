//! Compiles `csrc/encode.c`, the avatar JPEG writer, against the
//! libjpeg-turbo that `turbojpeg-sys` builds and links, and finds the face
//! detector's model in the `rustface` package, for `face.rs` to build in.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=csrc/encode.c");
    // Set by turbojpeg-sys (`links = "turbojpeg"`): where its headers are.
    let includes = std::env::var("DEP_TURBOJPEG_INCLUDE")
        .expect("turbojpeg-sys names the libjpeg-turbo headers it built");
    let mut build = cc::Build::new();
    for include in includes.split(',').filter(|path| !path.is_empty()) {
        build.include(include);
    }
    build
        .file("csrc/encode.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("avatar_jpeg_encode");
    let model = face_model();
    println!("cargo::rerun-if-changed={}", model.display());
    println!("cargo::rustc-env=AVATAR_FACE_MODEL={}", model.display());
}

/// SeetaFace's frontal model, which the `rustface` package ships beside its
/// source (`model/seeta_fd_frontal_v1.0.bin`) without building it in.
/// Cargo has unpacked the package before this script runs: in its registry
/// folder, at the version the lock file names, or (vendored, or from git)
/// where `cargo metadata` says. The registry comes first, as `cargo
/// metadata` needs every package of the workspace, dev-dependencies
/// included, which a build of the binaries alone has not downloaded.
fn face_model() -> PathBuf {
    const MODEL: &str = "model/seeta_fd_frontal_v1.0.bin";
    let package = in_registry().or_else(from_metadata).unwrap_or_else(|| {
        panic!("cannot find the rustface package's {MODEL}: run `cargo fetch` and build again")
    });
    let model = package.join(MODEL);
    assert!(model.is_file(), "{} is missing", model.display());
    model
}

/// `$CARGO_HOME/registry/src/*/rustface-{version}`, the version from the
/// workspace's lock file.
fn in_registry() -> Option<PathBuf> {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).ok()?;
    println!("cargo::rerun-if-changed=../Cargo.lock");
    let at =
        lock.find("name = \"rustface\"\nversion = \"")? + "name = \"rustface\"\nversion = \"".len();
    let version = &lock[at..at + lock[at..].find('"')?];
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))?;
    std::fs::read_dir(home.join("registry/src"))
        .ok()?
        .filter_map(Result::ok)
        .map(|index| index.path().join(format!("rustface-{version}")))
        .find(|package| package.is_dir())
}

/// The package's folder as `cargo metadata` knows it, offline, for this
/// target only (the others' packages may not be downloaded).
fn from_metadata() -> Option<PathBuf> {
    let cargo = std::env::var("CARGO").ok()?;
    let target = std::env::var("TARGET").ok()?;
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .args(["--filter-platform", &target])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !output.status.success() {
        println!(
            "cargo::warning=cargo metadata: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return None;
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    let manifest = metadata["packages"]
        .as_array()?
        .iter()
        .find(|package| package["name"] == "rustface")?["manifest_path"]
        .as_str()?;
    PathBuf::from(manifest).parent().map(PathBuf::from)
}
