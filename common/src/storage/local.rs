//! `LocalStorage`: objects as files under a data directory. Avatars go under
//! `media/` (which the API serves at `/media/`), staged uploads under
//! `staging/` (never served). Writes go to a temporary file that is renamed
//! into place, so a reader never sees half an object and a failed write
//! leaves the previous object intact.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use std::io::Write;

use super::{ObjectKind, StorageError};
use crate::ObjectKey;
use crate::object_key::STAGING_PREFIX;

/// The directory under the data directory that holds served avatars.
pub const MEDIA_DIR: &str = "media";

/// A local directory used as the object store.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// The directory the API serves under `/media/`.
    pub fn media_dir(&self) -> PathBuf {
        self.root.join(MEDIA_DIR)
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        // Keys are validated segment by segment (no `..`, no empty or
        // absolute parts), so joining them cannot leave the root.
        let base = if key.segments().next() == Some(STAGING_PREFIX) {
            self.root.clone()
        } else {
            self.media_dir()
        };
        key.segments()
            .fold(base, |path, segment| path.join(segment))
    }

    pub async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        _kind: ObjectKind,
    ) -> Result<(), StorageError> {
        let path = self.path(key);
        let dir = path
            .parent()
            .ok_or_else(|| StorageError::Misconfigured(format!("no parent for {key}")))?
            .to_path_buf();
        // Plain blocking I/O on the blocking pool: tokio's buffered file can
        // lose the error of its last write (a full disk) before a sync.
        tokio::task::spawn_blocking(move || write_atomically(&dir, &path, &body))
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e)))?
    }

    pub async fn get(&self, key: &ObjectKey) -> Result<Bytes, StorageError> {
        match tokio::fs::read(self.path(key)).await {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(StorageError::NotFound(key.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    pub async fn staged(&self, limit: usize) -> Result<Vec<ObjectKey>, StorageError> {
        let mut keys = Vec::new();
        let mut entries = match tokio::fs::read_dir(self.root.join(STAGING_PREFIX)).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(keys),
            Err(e) => return Err(e.into()),
        };
        while keys.len() < limit
            && let Some(entry) = entries.next_entry().await?
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Ok(key) = ObjectKey::try_from(format!("{STAGING_PREFIX}/{name}")) {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    pub async fn check(&self) -> Result<(), StorageError> {
        let media = self.media_dir();
        tokio::fs::create_dir_all(&media).await.map_err(|e| {
            StorageError::Misconfigured(format!(
                "cannot create {} ({e}); set AVATARS_DATA_DIR to a writable directory",
                media.display()
            ))
        })?;
        let probe = self.root.join(format!(".probe-{}", ulid::Ulid::generate()));
        tokio::fs::write(&probe, b"ok").await.map_err(|e| {
            StorageError::Misconfigured(format!(
                "cannot write to {} ({e}); set AVATARS_DATA_DIR to a writable directory",
                self.root.display()
            ))
        })?;
        let _ = tokio::fs::remove_file(&probe).await;
        Ok(())
    }
}

/// Writes `body` to a temporary file in `dir`, syncs it and renames it to
/// `path`; on any error the temporary file is removed and `path` is left
/// as it was.
fn write_atomically(dir: &Path, path: &Path, body: &[u8]) -> Result<(), StorageError> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", ulid::Ulid::generate()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(body)?;
        file.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(written?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_round_trip_and_staging_stays_outside_media() {
        let root = std::env::temp_dir().join(format!("avatars-local-{}", ulid::Ulid::generate()));
        let storage = LocalStorage::new(&root);
        storage.check().await.expect("writable");
        let staged = ObjectKey::staged_source(&crate::JobId::generate());
        storage
            .put(&staged, Bytes::from_static(b"raw"), ObjectKind::Staged)
            .await
            .expect("put");
        assert_eq!(
            storage.get(&staged).await.expect("get"),
            Bytes::from_static(b"raw")
        );
        assert!(!storage.path(&staged).starts_with(storage.media_dir()));
        storage.delete(&staged).await.expect("delete");
        storage
            .delete(&staged)
            .await
            .expect("deleting twice is fine");
        assert!(matches!(
            storage.get(&staged).await,
            Err(StorageError::NotFound(_))
        ));
        let _ = std::fs::remove_dir_all(root);
    }
}
