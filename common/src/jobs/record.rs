//! The job record (a Redis hash per job) and the per-user hash: the names
//! of their fields, written once here and handed to the Lua scripts by
//! [`scripts`](super::scripts), and [`JobRecord`], the record as read back.
//!
//! # The job record, `{prefix}:job:{jobId}`
//!
//! | field | written by | holds |
//! |---|---|---|
//! | `id`, `user` | enqueue | the job and its user |
//! | `job` | park, retry later, fail; import items that wait behind their URL | the [`Job`](super::Job) as JSON, to rebuild its stream entry from; absent while the entry holds it |
//! | `status` | every transition | a [`JobStatus`] name |
//! | `stamp` | enqueue | the acceptance stamp: unix ms, strictly increasing per user; decides which update wins |
//! | `created`, `updated` | enqueue; every transition | unix ms |
//! | `accepted_us`, `started_us` | enqueue; start | unix µs, to measure how long a job waited for a worker |
//! | `attempts` | start (+1 each) | attempts begun, this one included |
//! | `retries` | retry later (+1 each) | attempts that ended in a scheduled retry |
//! | `retry_from` | enqueue (an import item: its first start); requeue of a failed job | unix ms from which the retry budget runs |
//! | `last_error` | retry later | why the last attempt is being retried |
//! | `key` | complete | the object key of the stored avatar's largest side |
//! | `sides` | complete | every side made of it, as [`Sides`](crate::avatar::Sides) writes them |
//! | `placeholder` | complete | its ThumbHash, base64 |
//! | `error_code`, `error_message` | fail | the [`JobFailure`] |
//! | `stream` | enqueue | the key of its lane's stream, where a retry or a parked job goes back to |
//! | `import`, `index` | import items | the item's import and, for one waiting behind its URL, its place in it (see [`crate::imports`]) |
//! | `callback` | enqueue | the PUT's `callbackUrl`, which hears of the job's end (see [`crate::webhooks`]) |
//!
//! An import item in its lane's stream has no record: its first start
//! writes one, with the fields enqueue would have (`created` and
//! `accepted_us` from its stamp), see `start.lua`.
//!
//! Attempts that neither ended nor scheduled a retry (`attempts - retries -
//! 1` at the start of one) were cut short by a dying worker.
//!
//! # The user hash, `{prefix}:user:{userId}`
//!
//! | field | holds |
//! |---|---|
//! | `last` | the stamp of the user's last accepted job |
//! | `stamp`, `key`, `sides`, `placeholder` | the stamp, object key, sides and placeholder of the current avatar; after a DELETE, `stamp` alone, the delete's |
//! | `deleted` | the stamp of the user's last DELETE: an avatar of a job accepted before it is deleted at once |

use std::collections::HashMap;

use super::job::FailureCode;
use super::{JobFailure, JobStatus};
use crate::avatar::Sides;
use crate::{JobId, ObjectKey, UserId};

/// Declares a module of field-name constants and `ALL`, the list of
/// `(constant name, stored name)` pairs the Lua prelude is built from.
macro_rules! fields {
    ($(#[$doc:meta])* $module:ident { $($(#[$field_doc:meta])* $name:ident = $stored:literal),* $(,)? }) => {
        $(#[$doc])*
        pub mod $module {
            $($(#[$field_doc])* pub const $name: &str = $stored;)*

            /// Every field as `(constant name, stored name)`.
            pub const ALL: &[(&str, &str)] = &[$((stringify!($name), $name)),*];
        }
    };
}

pub(crate) use fields;

fields! {
    /// Field names of the job record.
    field {
        ID = "id",
        USER = "user",
        JOB = "job",
        STATUS = "status",
        STAMP = "stamp",
        CREATED = "created",
        UPDATED = "updated",
        ACCEPTED_US = "accepted_us",
        STARTED_US = "started_us",
        ATTEMPTS = "attempts",
        RETRIES = "retries",
        RETRY_FROM = "retry_from",
        LAST_ERROR = "last_error",
        KEY = "key",
        SIDES = "sides",
        PLACEHOLDER = "placeholder",
        ERROR_CODE = "error_code",
        ERROR_MESSAGE = "error_message",
        STREAM = "stream",
        IMPORT = "import",
        INDEX = "index",
        CALLBACK = "callback",
    }
}

fields! {
    /// Field names of the per-user hash.
    user_field {
        LAST = "last",
        STAMP = "stamp",
        KEY = "key",
        SIDES = "sides",
        PLACEHOLDER = "placeholder",
        DELETED = "deleted",
    }
}

fields! {
    /// Field names of a job's stream entry.
    entry_field {
        /// The [`Job`](crate::jobs::Job) as JSON.
        JOB = "job",
        /// The acceptance stamp.
        STAMP = "stamp",
    }
}

/// What the status store knows of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: JobId,
    pub user: UserId,
    pub status: JobStatus,
    /// The acceptance stamp; `None` in a record too old to have one.
    pub stamp: Option<u64>,
    /// Where the finished avatar's largest side is stored.
    pub avatar_key: Option<ObjectKey>,
    /// The sides made of it; `None` for an avatar recorded before sides
    /// were (its one side is the deployment's avatar size).
    pub avatar_sides: Option<Sides>,
    /// Its ThumbHash, base64.
    pub placeholder: Option<String>,
    pub error: Option<JobFailure>,
    /// Unix milliseconds.
    pub created_at: u64,
    /// Unix milliseconds.
    pub updated_at: u64,
}

impl JobRecord {
    /// Reads a record from its hash fields; the error names what is wrong.
    pub fn parse(mut fields: HashMap<String, String>) -> Result<Self, String> {
        let mut take = |name: &str| {
            fields
                .remove(name)
                .ok_or_else(|| format!("job record lacks {name:?}"))
        };
        let id = take(field::ID)?
            .parse::<JobId>()
            .map_err(|e| e.to_string())?;
        let user = take(field::USER)?
            .parse::<UserId>()
            .map_err(|e| e.to_string())?;
        let status = take(field::STATUS)?.parse::<JobStatus>()?;
        let created_at = take(field::CREATED)?
            .parse::<u64>()
            .map_err(|e| e.to_string())?;
        let updated_at = take(field::UPDATED)?
            .parse::<u64>()
            .map_err(|e| e.to_string())?;
        let avatar_key = fields
            .remove(field::KEY)
            .map(|k| ObjectKey::try_from(k).map_err(|e| e.to_string()))
            .transpose()?;
        let stamp = fields.remove(field::STAMP).and_then(|s| s.parse().ok());
        let avatar_sides = fields
            .remove(field::SIDES)
            .map(|sides| sides.parse::<Sides>().map_err(|e| e.to_string()))
            .transpose()?;
        let placeholder = fields.remove(field::PLACEHOLDER).filter(|p| !p.is_empty());
        let error = match (
            fields.remove(field::ERROR_CODE),
            fields.remove(field::ERROR_MESSAGE),
        ) {
            (Some(code), Some(message)) => Some(JobFailure {
                code: code.parse::<FailureCode>()?,
                message,
            }),
            _ => None,
        };
        Ok(Self {
            id,
            user,
            status,
            stamp,
            avatar_key,
            avatar_sides,
            placeholder,
            error,
            created_at,
            updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_record_reads_back_with_its_error() {
        let id = JobId::generate();
        let fields: HashMap<String, String> = [
            (field::ID, id.to_string()),
            (field::USER, "bob".into()),
            (field::STATUS, "failed".into()),
            (field::CREATED, "1".into()),
            (field::UPDATED, "2".into()),
            (field::ERROR_CODE, "image_rejected".into()),
            (field::ERROR_MESSAGE, "truncated".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let record = JobRecord::parse(fields).expect("parses");
        assert_eq!(record.status, JobStatus::Failed);
        assert_eq!(
            record.error,
            Some(JobFailure::new(FailureCode::ImageRejected, "truncated"))
        );
    }

    #[test]
    fn a_record_without_a_status_is_refused_by_name() {
        let fields = HashMap::from([(field::ID.to_owned(), JobId::generate().to_string())]);
        let error = JobRecord::parse(fields).expect_err("incomplete");
        assert!(error.contains("lacks \"user\""), "{error}");
    }
}
