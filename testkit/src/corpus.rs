//! The shared real-world image corpus, in the folder named by
//! `AVATARS_TEST_CORPUS` (CI sets it to `../shared/corpus`). A relative
//! path is taken from the repository root, as the README gives it, when it
//! does not exist from the folder cargo runs a test in.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The corpus folder, or `None` when the variable is unset, after `test`
/// says on standard error that it skipped the corpus.
pub fn dir(test: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("AVATARS_TEST_CORPUS") else {
        // Written past the test harness's capture, so a run shows what it skipped.
        let _ = writeln!(
            std::io::stderr(),
            "{test}: skipped the corpus, AVATARS_TEST_CORPUS is not set"
        );
        return None;
    };
    let dir = PathBuf::from(dir);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = if dir.is_relative() && !dir.exists() {
        root.join(dir)
    } else {
        dir
    };
    assert!(
        dir.is_dir(),
        "AVATARS_TEST_CORPUS={} is no folder",
        dir.display()
    );
    Some(dir)
}
