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
/// source (`model/seeta_fd_frontal_v1.0.bin`) without building it in: the
/// package's place comes from `cargo metadata`, offline, from the lock file.
fn face_model() -> PathBuf {
    let cargo = std::env::var("CARGO").expect("cargo runs build scripts");
    let target = std::env::var("TARGET").expect("cargo names the target");
    // For this target only: the others' packages may not be downloaded.
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .args(["--filter-platform", &target])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata answers JSON");
    let manifest = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| package["name"] == "rustface")
        .and_then(|package| package["manifest_path"].as_str())
        .expect("rustface is a dependency");
    let model = PathBuf::from(manifest)
        .parent()
        .expect("a manifest is in a folder")
        .join("model/seeta_fd_frontal_v1.0.bin");
    assert!(model.is_file(), "{} is missing", model.display());
    model
}
