//! Bulk imports: many `{userId, avatarUrl}` items accepted at once, each run
//! as a job of the bulk lane, followed through one record of counts.
//!
//! # What an import keeps in Redis
//!
//! | key | holds |
//! |---|---|
//! | `{prefix}:import:{id}` | the record: status, mode, counts, times (fields in [`field`]) |
//! | `…:failures` | the failed items as JSON ([`ImportFailure`]), scored by index |
//! | `…:urls` | each source URL's first item, then `=` and its avatar's key once stored |
//! | `…:after:{url}` | the items that wait for the first item of that URL |
//!
//! (Key names are made in `queue::keys`.)
//!
//! An item's job has no record of its own while it waits in the stream:
//! its stream entry, its URL in `…:urls` and its user's stamp are all
//! an item costs until a worker first takes it, which records it then
//! (`start.lua`); `GET /jobs/{id}` knows it from that moment. An item that
//! waits in an `after` list is recorded when accepted, with its job's JSON,
//! since it has no entry to hold it.
//!
//! # Counts
//!
//! Every item is in exactly one count, so the counts add up to `total`:
//!
//! | count | an item is there while |
//! |---|---|
//! | `queued` | its job waits for a worker (in its lane, parked, waiting for a retry, or behind the first item of its URL) |
//! | `processing` | a worker runs it |
//! | `completed`, `failed`, `skipped`, `cancelled` | it has ended so |
//!
//! The scripts that move a job between states move its item between
//! counts in the same step (see [`crate::jobs`]). A job taken over from a
//! dead worker was already `processing`, and stays there.
//!
//! # One fetch per URL
//!
//! The first item with a given `avatarUrl` runs; the later ones with the
//! same URL wait in the URL's `after` list, outside the stream. When it completes,
//! they go to the stream, and each makes its avatar by copying the first
//! one's object in the store, without fetching or converting. When it
//! fails, they fail with its error. When it is skipped, the next one takes
//! its place. Identical bytes under different URLs are converted once each.

mod record;

pub use record::{
    FAILURE_TEXT_BYTES, FAILURES_KEPT, ImportCounts, ImportError, ImportFailure, ImportMode,
    ImportRecord, ImportState, ImportStatus, clip_failure_text, field,
};

use serde::{Deserialize, Serialize};

use crate::ImportId;

/// Where a job stands in its import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportItem {
    /// The import.
    pub id: ImportId,
    /// The item's place in the import's list, from 0.
    pub index: u64,
}
