//! Where avatars and staged uploads are kept: an S3-compatible bucket, or a
//! local directory when no bucket is configured. Callers see one [`Storage`]
//! and never the S3 SDK.

mod error;
mod local;
mod s3;

use std::time::Duration;

use bytes::Bytes;

pub use error::StorageError;
pub use local::LocalStorage;
pub use s3::S3Storage;

use crate::settings::StorageSettings;
use crate::{ObjectKey, UserId};

/// The `Cache-Control` of avatars: each update has a new key, so an avatar
/// never changes once written.
pub const AVATAR_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// What an object is, which decides its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A finished avatar JPEG, public and immutable.
    Avatar,
    /// A raw upload waiting for a worker.
    Staged,
}

/// The configured object store.
#[derive(Clone, Debug)]
pub enum Storage {
    S3(S3Storage),
    Local(LocalStorage),
}

impl Storage {
    /// Opens the store the settings name and checks that it answers.
    pub async fn open(settings: &StorageSettings) -> Result<Self, StorageError> {
        let storage = match &settings.s3_bucket {
            Some(bucket) => Self::S3(S3Storage::new(bucket, settings).await),
            None => Self::Local(LocalStorage::new(&settings.data_dir)),
        };
        storage.check().await?;
        Ok(storage)
    }

    /// Writes `body` under `key`, replacing any object there.
    pub async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        kind: ObjectKind,
    ) -> Result<(), StorageError> {
        match self {
            Self::S3(s) => s.put(key, body, kind).await,
            Self::Local(l) => l.put(key, body, kind).await,
        }
    }

    /// Reads the object under `key`.
    pub async fn get(&self, key: &ObjectKey) -> Result<Bytes, StorageError> {
        match self {
            Self::S3(s) => s.get(key).await,
            Self::Local(l) => l.get(key).await,
        }
    }

    /// Writes a copy of every side of the avatar under `from` beside `to`,
    /// each under its own file name, inside the store (server-side copies
    /// on S3). `NotFound` when the avatar under `from` is gone.
    pub async fn copy_avatar(&self, from: &ObjectKey, to: &ObjectKey) -> Result<(), StorageError> {
        let mut objects = self.avatar_objects(from).await?;
        if !objects.contains(from) {
            return Err(StorageError::NotFound(from.to_string()));
        }
        // The largest side last: an avatar whose key exists has every side.
        objects.retain(|object| object != from);
        objects.push(from.clone());
        for object in objects {
            let copy = to.beside(object.file_name());
            match self {
                Self::S3(s) => s.copy_avatar(&object, &copy).await?,
                Self::Local(l) => {
                    let body = l.get(&object).await?;
                    l.put(&copy, body, ObjectKind::Avatar).await?
                }
            }
        }
        Ok(())
    }

    /// Every object stored in the folder of the avatar under `key`: each of
    /// its sides (see [`crate::avatar`]).
    pub async fn avatar_objects(&self, key: &ObjectKey) -> Result<Vec<ObjectKey>, StorageError> {
        match self {
            Self::S3(s) => s.list(key.folder(), usize::MAX).await,
            Self::Local(l) => l.folder(key).await,
        }
    }

    /// Removes the object under `key`; a missing object is not an error.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        match self {
            Self::S3(s) => s.delete(key).await,
            Self::Local(l) => l.delete(key).await,
        }
    }

    /// Every staged upload of `user`.
    pub async fn staged_of(&self, user: &UserId) -> Result<Vec<ObjectKey>, StorageError> {
        let prefix = ObjectKey::staged_prefix(user);
        match self {
            Self::S3(s) => s.list(&prefix, usize::MAX).await,
            Self::Local(l) => l.staged_under(&prefix).await,
        }
    }

    /// Up to `limit` staged uploads.
    pub async fn staged(&self, limit: usize) -> Result<Vec<ObjectKey>, StorageError> {
        match self {
            Self::S3(s) => s.staged(limit).await,
            Self::Local(l) => l.staged(limit).await,
        }
    }

    /// Deletes what writes cut short by a crash left behind, once older
    /// than `older_than`; returns how many. Only local storage has any: an
    /// S3 PUT stores all of an object or nothing.
    pub async fn sweep_partial(&self, older_than: Duration) -> Result<usize, StorageError> {
        match self {
            Self::S3(_) => Ok(0),
            Self::Local(l) => l.sweep_partial(older_than).await,
        }
    }

    /// Whether the store answers and the bucket or directory is there.
    pub async fn check(&self) -> Result<(), StorageError> {
        match self {
            Self::S3(s) => s.check().await,
            Self::Local(l) => l.check().await,
        }
    }

    /// The prefix of every avatar URL, without a trailing slash: the
    /// configured `AVATARS_PUBLIC_BASE_URL`, else the store's own; `None`
    /// for local storage without one (the API serves it at its address).
    pub fn public_base_url(&self, settings: &StorageSettings) -> Option<String> {
        settings
            .public_base_url
            .clone()
            .or_else(|| self.default_public_base())
            .map(|base| base.trim_end_matches('/').to_owned())
    }

    /// The URL prefix under which avatars are served when no public base
    /// URL is configured, or `None` for local storage (served by the API).
    pub fn default_public_base(&self) -> Option<String> {
        match self {
            Self::S3(s) => Some(s.public_base()),
            Self::Local(_) => None,
        }
    }
}
