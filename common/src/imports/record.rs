//! The import record as stored and as read back.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ImportId;
use crate::jobs::record::fields;
use crate::timestamps::rfc3339;

fields! {
    /// Field names of the import record.
    field {
        ID = "id",
        STATUS = "status",
        MODE = "mode",
        TOTAL = "total",
        QUEUED = "queued",
        PROCESSING = "processing",
        COMPLETED = "completed",
        FAILED = "failed",
        SKIPPED = "skipped",
        CANCELLED = "cancelled",
        CREATED = "created",
        UPDATED = "updated",
        FINISHED = "finished",
        /// Present while the API is still reading the import's body: the
        /// import cannot end before its last item is known.
        OPEN = "open",
        CALLBACK = "callback",
        /// For a cancelled import, the last stream entry its drain has
        /// read (see `import_cancel_scan.lua`).
        CANCEL_CURSOR = "cancel_cursor",
    }
}

/// The state of an import as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStatus {
    /// Some item has not ended yet.
    Running,
    /// Every item has ended (failed ones included).
    Completed,
    /// Cancelled: the items not yet started ended as cancelled.
    Cancelled,
}

impl ImportStatus {
    pub const ALL: [Self; 3] = [Self::Running, Self::Completed, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl FromStr for ImportStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown import status {s:?}"))
    }
}

/// Whether an import replaces avatars users have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Every item replaces its user's avatar, as a PUT would.
    #[default]
    Replace,
    /// An item whose user has an avatar when it would become current is
    /// skipped.
    Missing,
}

impl ImportMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Missing => "missing",
        }
    }
}

impl FromStr for ImportMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Replace, Self::Missing]
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| format!("mode must be replace or missing, not {s:?}"))
    }
}

impl fmt::Display for ImportMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many items are where; they add up to `total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportCounts {
    pub total: u64,
    pub queued: u64,
    pub processing: u64,
    pub completed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub cancelled: u64,
}

impl ImportCounts {
    /// The sum of the per-state counts, which is `total` when the record
    /// is consistent.
    pub fn sum(&self) -> u64 {
        self.queued + self.processing + self.completed + self.failed + self.skipped + self.cancelled
    }
}

/// What the status store knows of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    pub id: ImportId,
    pub status: ImportStatus,
    pub mode: ImportMode,
    pub counts: ImportCounts,
    /// Unix milliseconds.
    pub created_at: u64,
    pub updated_at: u64,
    /// When its last item ended.
    pub finished_at: Option<u64>,
    pub callback_url: Option<String>,
}

impl ImportRecord {
    /// Reads a record from its hash fields; the error names what is wrong.
    pub fn parse(mut fields: HashMap<String, String>) -> Result<Self, String> {
        let mut take = |name: &str| {
            fields
                .remove(name)
                .ok_or_else(|| format!("import record lacks {name:?}"))
        };
        let number = |value: String| value.parse::<u64>().map_err(|e| e.to_string());
        let id = take(field::ID)?
            .parse::<ImportId>()
            .map_err(|e| e.to_string())?;
        let status = take(field::STATUS)?.parse()?;
        let mode = take(field::MODE)?.parse()?;
        let counts = ImportCounts {
            total: number(take(field::TOTAL)?)?,
            queued: number(take(field::QUEUED)?)?,
            processing: number(take(field::PROCESSING)?)?,
            completed: number(take(field::COMPLETED)?)?,
            failed: number(take(field::FAILED)?)?,
            skipped: number(take(field::SKIPPED)?)?,
            cancelled: number(take(field::CANCELLED)?)?,
        };
        let created_at = number(take(field::CREATED)?)?;
        let updated_at = number(take(field::UPDATED)?)?;
        let finished_at = take(field::FINISHED).ok().map(number).transpose()?;
        let callback_url = take(field::CALLBACK).ok();
        Ok(Self {
            id,
            status,
            mode,
            counts,
            created_at,
            updated_at,
            finished_at,
            callback_url,
        })
    }
}

/// An import's state as the API shows it (`GET /imports/{id}`) and the
/// `import.completed` event carries it. The counts add up to `total`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Import))]
#[serde(rename_all = "camelCase")]
pub struct ImportState {
    pub import_id: String,
    /// `running` until every item has ended, then `completed` or
    /// `cancelled`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^(running|completed|cancelled)$")
    )]
    pub status: &'static str,
    /// `replace` or `missing`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(replace|missing)$"))]
    pub mode: &'static str,
    /// `total` and the count of each state.
    #[serde(flatten)]
    pub counts: ImportCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339; null until every item has ended.
    pub finished_at: Option<String>,
}

impl From<&ImportRecord> for ImportState {
    fn from(record: &ImportRecord) -> Self {
        Self {
            import_id: record.id.to_string(),
            status: record.status.as_str(),
            mode: record.mode.as_str(),
            counts: record.counts,
            callback_url: record.callback_url.clone(),
            created_at: rfc3339(record.created_at),
            updated_at: rfc3339(record.updated_at),
            finished_at: record.finished_at.map(rfc3339),
        }
    }
}

/// The most failures one import lists; past them, only its `failed`
/// count grows, so a body of junk costs Redis a bounded amount.
pub const FAILURES_KEPT: u64 = 10_000;

/// The most bytes of a failure's user id, URL or message that are kept;
/// a longer one is cut at a character boundary and ends with `...`.
pub const FAILURE_TEXT_BYTES: usize = 512;

/// `text` cut to at most [`FAILURE_TEXT_BYTES`] (and the mark of a cut).
pub fn clip_failure_text(text: &str) -> String {
    if text.len() <= FAILURE_TEXT_BYTES {
        return text.to_owned();
    }
    let mut cut = FAILURE_TEXT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut])
}

impl ImportFailure {
    /// The failure as it is kept: each text clipped.
    pub fn clipped(self) -> Self {
        let clip = |text: Option<String>| text.map(|t| clip_failure_text(&t));
        Self {
            index: self.index,
            user_id: clip(self.user_id),
            avatar_url: clip(self.avatar_url),
            error: ImportError {
                code: self.error.code,
                message: clip_failure_text(&self.error.message),
            },
        }
    }
}

/// A failed item, as listed by `GET /imports/{id}/failures`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImportFailure {
    pub index: u64,
    /// What the item named, as sent (it may not be a valid id).
    pub user_id: Option<String>,
    pub avatar_url: Option<String>,
    pub error: ImportError,
}

/// Why an item failed: an API error code and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportError {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_record_reads_back_with_counts_that_add_up() {
        let id = ImportId::generate().to_string();
        let record = ImportRecord::parse(stored(&[
            (field::ID, &id),
            (field::STATUS, "running"),
            (field::MODE, "missing"),
            (field::TOTAL, "6"),
            (field::QUEUED, "1"),
            (field::PROCESSING, "1"),
            (field::COMPLETED, "1"),
            (field::FAILED, "1"),
            (field::SKIPPED, "1"),
            (field::CANCELLED, "1"),
            (field::CREATED, "10"),
            (field::UPDATED, "20"),
        ]))
        .expect("parses");
        assert_eq!(record.mode, ImportMode::Missing);
        assert_eq!(record.counts.sum(), record.counts.total);
        assert_eq!(record.finished_at, None);
    }

    #[test]
    fn modes_are_refused_by_name() {
        let error = "sometimes".parse::<ImportMode>().expect_err("no such mode");
        assert!(error.contains("replace or missing"), "{error}");
    }
}
