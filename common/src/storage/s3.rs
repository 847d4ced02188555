//! `S3Storage`: objects in an S3 bucket through aws-sdk-s3. A custom
//! endpoint (MinIO, Garage, moto, ...) switches to path-style addressing.
//! Credentials come from the standard AWS chain.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::MetadataDirective;
use bytes::Bytes;

use super::{AVATAR_CACHE_CONTROL, ObjectKind, StorageError};
use crate::ObjectKey;
use crate::object_key::STAGING_PREFIX;
use crate::settings::StorageSettings;

/// How long opening a connection to the store may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one request, retries included, may take.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// A bucket used as the object store.
#[derive(Debug, Clone)]
pub struct S3Storage {
    client: Client,
    bucket: String,
    endpoint: Option<String>,
    region: String,
}

impl S3Storage {
    pub async fn new(bucket: &str, settings: &StorageSettings) -> Self {
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.s3_region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .load()
            .await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        if let Some(endpoint) = &settings.s3_endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        Self {
            client: Client::from_conf(config.build()),
            bucket: bucket.to_owned(),
            endpoint: settings.s3_endpoint.clone(),
            region: settings.s3_region.clone(),
        }
    }

    /// The URL under which the bucket's objects are publicly reachable.
    pub fn public_base(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), self.bucket),
            None => format!("https://{}.s3.{}.amazonaws.com", self.bucket, self.region),
        }
    }

    pub async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        kind: ObjectKind,
    ) -> Result<(), StorageError> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .body(ByteStream::from(body));
        let request = match kind {
            ObjectKind::Avatar => request
                .content_type("image/jpeg")
                .cache_control(AVATAR_CACHE_CONTROL),
            ObjectKind::Staged => request.content_type("application/octet-stream"),
        };
        request.send().await.map_err(|e| self.error(e, key))?;
        Ok(())
    }

    pub async fn copy_avatar(&self, from: &ObjectKey, to: &ObjectKey) -> Result<(), StorageError> {
        // Object keys hold only characters that need no escaping.
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{}", self.bucket, from.as_str()))
            .key(to.as_str())
            .metadata_directive(MetadataDirective::Replace)
            .content_type("image/jpeg")
            .cache_control(AVATAR_CACHE_CONTROL)
            .send()
            .await
            .map_err(|e| self.error(e, from))?;
        Ok(())
    }

    pub async fn get(&self, key: &ObjectKey) -> Result<Bytes, StorageError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| self.error(e, key))?;
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Unavailable(format!("reading {key}: {e}")))?;
        Ok(body.into_bytes())
    }

    pub async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| self.error(e, key))
        {
            Err(StorageError::NotFound(_)) | Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn staged(&self, limit: usize) -> Result<Vec<ObjectKey>, StorageError> {
        self.list(&format!("{STAGING_PREFIX}/"), limit).await
    }

    /// Up to `limit` keys that start with `prefix`, page after page.
    pub async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<ObjectKey>, StorageError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(i32::try_from(limit).unwrap_or(i32::MAX).min(1000))
            .into_paginator()
            .send();
        while keys.len() < limit
            && let Some(page) = pages.next().await
        {
            let page =
                page.map_err(|e| StorageError::Unavailable(DisplayErrorContext(&e).to_string()))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter_map(|k| ObjectKey::try_from(k.to_owned()).ok()),
            );
        }
        keys.truncate(limit);
        Ok(keys)
    }

    pub async fn check(&self) -> Result<(), StorageError> {
        let answer = self.client.head_bucket().bucket(&self.bucket).send().await;
        match answer {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => {
                Err(StorageError::Misconfigured(format!(
                    "bucket {:?} does not exist at {}; create it or set AVATARS_S3_BUCKET",
                    self.bucket,
                    self.endpoint.as_deref().unwrap_or("AWS S3")
                )))
            }
            Err(SdkError::ServiceError(e)) if matches!(e.raw().status().as_u16(), 401 | 403) => {
                Err(StorageError::Misconfigured(format!(
                    "the object store refused the credentials for bucket {:?}; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    self.bucket
                )))
            }
            Err(e) => Err(StorageError::Unavailable(format!(
                "bucket {:?} at {}: {}",
                self.bucket,
                self.endpoint.as_deref().unwrap_or("AWS S3"),
                DisplayErrorContext(&e)
            ))),
        }
    }

    fn error<E, R>(&self, error: SdkError<E, R>, key: &ObjectKey) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match error.code() {
            Some("NoSuchKey") | Some("NotFound") => StorageError::NotFound(key.to_string()),
            Some("NoSuchBucket") => {
                StorageError::Misconfigured(format!("bucket {:?} does not exist", self.bucket))
            }
            _ => StorageError::Unavailable(format!("{key}: {}", DisplayErrorContext(&error))),
        }
    }
}
