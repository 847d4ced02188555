//! What the avatar API and the workers share: the domain types that parse
//! input at the edge, the settings both binaries read, the job contract with
//! its Redis queue and status store, and the storage backends.
//!
//! # Layout
//! - [`user_id`], [`job_id`], [`source_url`], [`object_key`]: newtypes built
//!   only through parsing, so a bad value is refused where it enters.
//! - [`format`]: which image formats the service accepts, read from the bytes.
//! - [`job`]: the job contract and its status record.
//! - [`queue`]: the Redis stream that carries jobs, the status store, the
//!   per-user current-avatar index and the completion events.
//! - [`storage`]: the object store (S3) and the local directory backend.
//! - [`settings`]: the settings both binaries take from flags or `AVATARS_*`.
//! - [`telemetry`]: tracing set-up; [`metrics`]: Prometheus metrics.

#![forbid(unsafe_code)]

pub mod format;
pub mod idempotency_key;
pub mod job;
pub mod job_id;
pub mod metrics;
pub mod object_key;
pub mod queue;
pub mod settings;
pub mod source_url;
pub mod storage;
pub mod telemetry;
pub mod user_id;

pub use idempotency_key::IdempotencyKey;
pub use job::{Job, JobFailure, JobRecord, JobSource, JobStatus};
pub use job_id::JobId;
pub use object_key::ObjectKey;
pub use source_url::SourceUrl;
pub use user_id::UserId;
