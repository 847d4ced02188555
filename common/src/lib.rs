//! What the avatar API and the workers share: the domain types that parse
//! input at the edge, the settings both binaries read, the job contract with
//! its Redis queue and status store, and the storage backends.
//!
//! # Layout
//! - [`user_id`], [`job_id`], [`import_id`], [`source_url`], [`object_key`],
//!   [`request_id`]: newtypes built only through parsing, so a bad value is
//!   refused where it enters.
//! - [`avatar`]: the sides an avatar is made at, where each is stored, and
//!   its placeholder.
//! - [`jobs`]: the life of a job: its contract, states, record fields,
//!   transition scripts and retry rule.
//! - [`imports`]: bulk imports: their items, counts and record.
//! - [`webhooks`]: the events platforms hear of, and their durable
//!   deliveries.
//! - [`address`]: which addresses URL imports and callbacks may reach.
//! - [`backoff`]: the one backoff rule every retry loop uses.
//! - [`queue`]: the Redis stream that carries jobs, the status store, the
//!   per-user current-avatar index and the completion events.
//! - [`storage`]: the object store (S3) and the local directory backend.
//! - [`settings`]: the settings both binaries take from flags or `AVATARS_*`.
//! - [`telemetry`]: tracing set-up; [`metrics`]: Prometheus metrics.
//! - [`shutdown`]: the SIGINT/SIGTERM signal both binaries stop on.

#![forbid(unsafe_code)]

pub mod address;
pub mod avatar;
pub mod backoff;
pub mod idempotency_key;
pub mod import_id;
pub mod imports;
pub mod job_id;
pub mod jobs;
pub mod metrics;
pub mod object_key;
pub mod queue;
pub mod request_id;
pub mod settings;
pub mod shutdown;
pub mod source_url;
pub mod storage;
pub mod telemetry;
pub mod timestamps;
mod ulid_id;
pub mod user_id;
pub mod webhooks;

pub use idempotency_key::IdempotencyKey;
pub use import_id::ImportId;
pub use job_id::JobId;
pub use jobs::{Job, JobFailure, JobRecord, JobSource, JobStatus};
pub use object_key::ObjectKey;
pub use request_id::RequestId;
pub use source_url::SourceUrl;
pub use user_id::UserId;
