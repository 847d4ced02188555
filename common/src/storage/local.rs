//! `LocalStorage`: objects as files under a data directory. Avatars go under
//! `media/` (which the API serves at `/media/`), staged uploads under
//! `staging/` (never served). Writes go to a temporary file under
//! `.partial/` that is renamed into place, so a reader never sees half an
//! object and a failed write leaves the previous object intact; what a
//! crash leaves in `.partial/` is swept by [`LocalStorage::sweep_partial`].

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use std::io::Write;

use super::{ObjectKind, StorageError};
use crate::ObjectKey;
use crate::object_key::STAGING_PREFIX;

/// The directory under the data directory that holds served avatars.
pub const MEDIA_DIR: &str = "media";
/// The directory under the data directory that holds writes in progress,
/// each named by a ULID, so its age is in its name.
const PARTIAL_DIR: &str = ".partial";

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

    fn partial_dir(&self) -> PathBuf {
        self.root.join(PARTIAL_DIR)
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
        let partial = self.partial_dir();
        // Plain blocking I/O on the blocking pool: tokio's buffered file can
        // lose the error of its last write (a full disk) before a sync.
        tokio::task::spawn_blocking(move || write_atomically(&partial, &path, &body))
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

    /// The keys of the files in the folder of `key`.
    pub async fn folder(&self, key: &ObjectKey) -> Result<Vec<ObjectKey>, StorageError> {
        let Some(dir) = self.path(key).parent().map(Path::to_path_buf) else {
            return Ok(Vec::new());
        };
        Ok(list_dir(&dir)
            .await?
            .into_iter()
            .filter(|(_, is_dir)| !is_dir)
            .filter_map(|(name, _)| ObjectKey::try_from(format!("{}{name}", key.folder())).ok())
            .collect())
    }

    /// Up to `limit` staged uploads: those filed by user, and those of the
    /// layout before (directly under `staging/`).
    pub async fn staged(&self, limit: usize) -> Result<Vec<ObjectKey>, StorageError> {
        let mut keys = Vec::new();
        for (name, is_dir) in list_dir(&self.root.join(STAGING_PREFIX)).await? {
            if keys.len() >= limit {
                break;
            }
            let key = format!("{STAGING_PREFIX}/{name}");
            if !is_dir {
                keys.extend(ObjectKey::try_from(key).ok());
                continue;
            }
            for (file, _) in list_dir(&self.root.join(STAGING_PREFIX).join(&name)).await? {
                if keys.len() >= limit {
                    break;
                }
                keys.extend(ObjectKey::try_from(format!("{key}/{file}")).ok());
            }
        }
        Ok(keys)
    }

    /// The staged uploads of the keys under `prefix`, one folder of
    /// `staging/`.
    pub async fn staged_under(&self, prefix: &str) -> Result<Vec<ObjectKey>, StorageError> {
        let dir = prefix
            .split('/')
            .filter(|segment| !segment.is_empty())
            .fold(self.root.clone(), |path, segment| path.join(segment));
        Ok(list_dir(&dir)
            .await?
            .into_iter()
            .filter_map(|(name, _)| ObjectKey::try_from(format!("{prefix}{name}")).ok())
            .collect())
    }

    /// Deletes what writes cut short by a crash left in `.partial/`: files
    /// named by a ULID older than `older_than`. Returns how many it deleted.
    pub async fn sweep_partial(&self, older_than: Duration) -> Result<usize, StorageError> {
        let cutoff = crate::queue::now_ms().saturating_sub(older_than.as_millis() as u64);
        let mut entries = match tokio::fs::read_dir(self.partial_dir()).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let mut deleted = 0;
        while let Some(entry) = entries.next_entry().await? {
            let stale = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<ulid::Ulid>().ok())
                .is_some_and(|id| id.timestamp_ms() < cutoff);
            if stale {
                match tokio::fs::remove_file(entry.path()).await {
                    Err(e) if e.kind() != ErrorKind::NotFound => return Err(e.into()),
                    _ => deleted += 1,
                }
            }
        }
        Ok(deleted)
    }

    pub async fn check(&self) -> Result<(), StorageError> {
        for dir in [self.media_dir(), self.partial_dir()] {
            tokio::fs::create_dir_all(&dir).await.map_err(|e| {
                StorageError::Misconfigured(format!(
                    "cannot create {} ({e}); set AVATARS_DATA_DIR to a writable directory",
                    dir.display()
                ))
            })?;
        }
        let probe = self.partial_dir().join(ulid::Ulid::generate().to_string());
        tokio::fs::write(&probe, b"ok").await.map_err(|e| {
            StorageError::Misconfigured(format!(
                "cannot write to {} ({e}); set AVATARS_DATA_DIR to a writable directory",
                self.partial_dir().display()
            ))
        })?;
        let _ = tokio::fs::remove_file(&probe).await;
        Ok(())
    }
}

/// Writes `body` to a temporary file in `partial`, syncs it and renames it
/// to `path`; on any error the temporary file is removed and `path` is left
/// as it was.
/// The names of the entries of `dir`, each with whether it is a folder;
/// none for a folder that does not exist.
async fn list_dir(dir: &Path) -> Result<Vec<(String, bool)>, StorageError> {
    let mut names = Vec::new();
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e.into()),
    };
    while let Some(entry) = entries.next_entry().await? {
        let is_dir = entry.file_type().await.is_ok_and(|t| t.is_dir());
        names.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
    }
    Ok(names)
}

fn write_atomically(partial: &Path, path: &Path, body: &[u8]) -> Result<(), StorageError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::create_dir_all(partial)?;
    let tmp = partial.join(ulid::Ulid::generate().to_string());
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
        let user = "local-user".parse().expect("a user");
        let staged = ObjectKey::staged_source(&user, &crate::JobId::generate());
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

    #[tokio::test]
    async fn writes_cut_short_are_swept_once_old_and_finished_ones_leave_nothing() {
        let root = std::env::temp_dir().join(format!("avatars-local-{}", ulid::Ulid::generate()));
        let storage = LocalStorage::new(&root);
        storage.check().await.expect("writable");
        let key = ObjectKey::try_from("u/alice/avatar.jpg".to_owned()).expect("key");
        storage
            .put(&key, Bytes::from_static(b"jpeg"), ObjectKind::Avatar)
            .await
            .expect("put");
        let partial = storage.partial_dir();
        let left = || {
            let mut names: Vec<String> = std::fs::read_dir(&partial)
                .expect("partial dir")
                .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
                .collect();
            names.sort();
            names
        };
        assert_eq!(left(), Vec::<String>::new(), "a finished write left a file");

        // What a crash in the middle of a write leaves, two hours ago and now.
        let hour = 3_600_000;
        let old = ulid::Ulid::from_parts(crate::queue::now_ms() - 2 * hour, 1).to_string();
        let fresh = ulid::Ulid::generate().to_string();
        for name in [&old, &fresh, &"not-a-ulid".to_owned()] {
            std::fs::write(partial.join(name), b"half a jpeg").expect("write");
        }
        let deleted = storage
            .sweep_partial(Duration::from_millis(hour))
            .await
            .expect("sweep");
        assert_eq!(deleted, 1);
        let mut kept = vec![fresh, "not-a-ulid".to_owned()];
        kept.sort();
        assert_eq!(left(), kept);
        assert_eq!(
            storage.get(&key).await.expect("get"),
            Bytes::from_static(b"jpeg")
        );
        let _ = std::fs::remove_dir_all(root);
    }
}
