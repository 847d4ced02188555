//! Compiles `csrc/encode.c`, the avatar JPEG writer, against the
//! libjpeg-turbo that `turbojpeg-sys` builds and links.

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
}
