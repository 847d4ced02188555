//! The files that `path` rows name, read only from inside one folder: the
//! input's, or `--files-root`. An input file is data, often made by
//! someone else, and this command uploads what it reads with an admin
//! token, so a row may not name `/etc/shadow`, climb out with `..`, or
//! follow a symbolic link anywhere; only regular files are read, and no
//! more of them than the API would take.
//!
//! The check and the read are two steps: someone who can write into the
//! folder while the command runs could swap a checked file for a link in
//! between. The folder is the operator's own; the check is against the
//! input's author.

use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;

/// Why a row's file was not read: a code for the failures file, and what
/// to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn path(message: String) -> Self {
        Self {
            code: "path_refused",
            message,
        }
    }
}

/// The folder every file row is read from.
pub struct FilesRoot {
    /// Canonical: no link, no `..`.
    root: PathBuf,
    /// The largest file read; a larger one is refused unread.
    max_bytes: u64,
}

impl FilesRoot {
    pub fn new(root: &Path, max_bytes: u64) -> anyhow::Result<Self> {
        let root = root
            .canonicalize()
            .with_context(|| format!("the files root {} cannot be opened", root.display()))?;
        anyhow::ensure!(
            root.is_dir(),
            "the files root {} is not a folder",
            root.display()
        );
        Ok(Self { root, max_bytes })
    }

    /// Where `written` (a row's `path`) lies below the root, judged from
    /// its text alone: relative, or absolute inside the root; never `..`.
    pub fn relative<'a>(&self, written: &'a Path) -> Result<&'a Path, Refusal> {
        let relative = if written.is_absolute() {
            written.strip_prefix(&self.root).map_err(|_| {
                Refusal::path(format!(
                    "{} is outside the files root {}; give paths relative to it, or another --files-root",
                    written.display(),
                    self.root.display()
                ))
            })?
        } else {
            written
        };
        for component in relative.components() {
            match component {
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => {
                    return Err(Refusal::path(format!(
                        "{} climbs out of its folder with '..'; give a path inside {}",
                        written.display(),
                        self.root.display()
                    )));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(Refusal::path(format!(
                        "{} is not a path inside {}",
                        written.display(),
                        self.root.display()
                    )));
                }
            }
        }
        if relative.as_os_str().is_empty() {
            return Err(Refusal::path("the path is empty".into()));
        }
        Ok(relative)
    }

    /// The bytes of the file `written` names, if it is a regular file
    /// inside the root reached through no symbolic link, and not larger
    /// than the API takes.
    pub fn read(&self, written: &Path) -> Result<Vec<u8>, Refusal> {
        let relative = self.relative(written)?;
        let lexical = self.root.join(relative);
        let unreadable = |e: std::io::Error| Refusal {
            code: "unreadable",
            message: format!("cannot read {}: {e}", written.display()),
        };
        let real = lexical.canonicalize().map_err(unreadable)?;
        // Every link on the way is resolved by `canonicalize`, so a path
        // that is not where its text says went through one.
        if real != normalized(&lexical) {
            return Err(Refusal::path(format!(
                "{} goes through a symbolic link; give the file's own path inside {}",
                written.display(),
                self.root.display()
            )));
        }
        let file = std::fs::File::open(&real).map_err(unreadable)?;
        let metadata = file.metadata().map_err(unreadable)?;
        if !metadata.is_file() {
            return Err(Refusal::path(format!(
                "{} is not a regular file",
                written.display()
            )));
        }
        if metadata.len() > self.max_bytes {
            return Err(too_large(written, self.max_bytes));
        }
        // A file that grows while it is read is cut off at the limit.
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        file.take(self.max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(too_large(written, self.max_bytes));
        }
        Ok(bytes)
    }
}

fn too_large(written: &Path, max_bytes: u64) -> Refusal {
    Refusal {
        code: "too_large",
        message: format!(
            "{} is larger than {max_bytes} bytes (--max-file-bytes)",
            written.display()
        ),
    }
}

/// `path` without its `.` components (it has no `..`).
fn normalized(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (PathBuf, FilesRoot) {
        let dir = std::env::temp_dir().join(format!("avatar-import-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("photos")).expect("dir");
        std::fs::write(dir.join("photos/a.jpg"), b"jpeg").expect("file");
        std::fs::write(dir.join("big.jpg"), vec![0; 10]).expect("file");
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link.jpg")).expect("link");
        std::os::unix::fs::symlink("/etc", dir.join("etc")).expect("link");
        let files = FilesRoot::new(&dir, 8).expect("root");
        (dir, files)
    }

    #[test]
    fn only_regular_files_inside_the_root_are_read() {
        let (dir, files) = root();
        assert_eq!(files.read(Path::new("photos/a.jpg")), Ok(b"jpeg".to_vec()));
        assert_eq!(
            files.read(Path::new("./photos/a.jpg")),
            Ok(b"jpeg".to_vec())
        );
        let inside = files.root.join("photos/a.jpg");
        assert_eq!(files.read(&inside), Ok(b"jpeg".to_vec()));
        for (path, code) in [
            ("/etc/shadow", "path_refused"),
            ("/proc/self/environ", "path_refused"),
            ("../../../../etc/passwd", "path_refused"),
            ("photos/../../x", "path_refused"),
            ("link.jpg", "path_refused"),
            ("etc/passwd", "path_refused"),
            ("photos", "path_refused"),
            ("big.jpg", "too_large"),
            ("missing.jpg", "unreadable"),
        ] {
            let refusal = files.read(Path::new(path)).expect_err(path);
            assert_eq!(refusal.code, code, "{path}: {}", refusal.message);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
