//! The life of a job, in one place: what a job is ([`Job`]), the states of
//! its record ([`JobStatus`]) and the record's fields ([`record`]), the Lua
//! scripts that move it from one state to the next ([`scripts`]), and the
//! rule that picks the next state after an attempt ([`RetryRules`]).
//!
//! The queue ([`crate::queue`]) runs these transitions on Redis; the worker
//! only does the work of an attempt and hands back an [`Attempt`].
//!
//! # States and transitions
//!
//! ```text
//!            enqueue                start                 complete
//!  (PUT) ─────────────► queued ───────────────► processing ──────────► completed
//!                         ▲  ▲                    │  │  │
//!                         │  │      hand back     │  │  │  fail
//!                         │  └────────────────────┘  │  └────────────► failed
//!                         │   (worker stops; or dies │                   │
//!                         │    and its entry is      │ retry later       │
//!                         │    taken over)           ▼                   │
//!                         └──── requeue ──────── retry_later             │
//!                         └──── requeue-failed (operator) ───────────────┘
//! ```
//!
//! | transition | script | from | to | what else it does |
//! |---|---|---|---|---|
//! | enqueue | `enqueue.lua` | — | queued | stamps the job (unix ms, strictly increasing per user), adds its stream entry, honours an idempotency key |
//! | start | `start.lua` | queued | processing | counts the attempt and takes one of the user's running slots (the fair share); a worker ran `XREADGROUP` (or `XAUTOCLAIM`) first, so the entry is pending on it |
//! | park | `start.lua` | queued | queued | when the user already runs as many jobs as the fair share allows: the entry is acknowledged and the job id parked in the user's list, until one of the user's jobs ends |
//! | complete | `complete.lua` | processing | completed | makes the avatar current unless a later-stamped one is; schedules the one no longer current for deletion; acknowledges and deletes the entry; announces the job |
//! | fail | `fail.lua` | processing | failed | indexes the job for `requeue-failed`; acknowledges and deletes the entry; announces the job |
//! | retry later | `retry.lua` | processing | retry_later | puts the job in the retry set, due after a backoff; acknowledges and deletes the entry |
//! | requeue | `requeue.lua` | retry_later, failed | queued | a new stream entry rebuilt from the record, with the original stamp |
//! | release | complete, fail and retry later, or `promote_parked.lua` | (parked) | queued | the ending job gives back its slot, and the user's oldest parked job gets a new stream entry, rebuilt from its record; a slot whose lease ran out (its worker died) is given back by the upkeep |
//! | hand back | `hand_back.lua` | (pending, not begun) | queued | a stopping worker moves the entries it read but did not begin to the end of the stream |
//!
//! Every transition is one script, so the record, the stream, the user's
//! current avatar and the announcement never disagree.
//!
//! A job waits in the stream of its [`Lane`]: workers take interactive
//! work before bulk work (see `queue::backend`). Its record keeps the key
//! of that stream, so a retry or a parked job goes back to the same lane.
//!
//! # When a worker dies
//!
//! A job's stream entry stays pending on the worker that read it until a
//! script acknowledges it. While the worker lives, a heartbeat keeps its
//! pending entries fresh; once it has been silent for the orphan window,
//! any other worker claims the entry (`XAUTOCLAIM`) and starts the job
//! again. So a worker that dies **between storing the avatar and
//! recording it** leaves the entry pending and the record `processing`; the
//! next worker runs the job again from its source, stores the same avatar
//! under the same key (the key is made from the job's stamp, so the second
//! write replaces the first), and completes it. Nothing is lost and the
//! user sees the avatar once. The attempt the dead worker began counts as
//! interrupted (see [`Started::interrupted`]); a job whose attempts keep
//! being cut short is given up as `unavailable` after
//! [`RetryRules::max_interrupted`] of them, so that a poisonous input
//! cannot kill every worker in turn.
//!
//! # After an attempt
//!
//! [`RetryRules::after_attempt`] decides: a stored avatar completes; an
//! input that cannot become an avatar (undecodable, too large, a URL that
//! cannot be fetched) fails at once and is never retried; a fault of the
//! service's own (Redis or the object store unreachable) retries later
//! with exponential backoff until the retry budget is spent, then fails as
//! `unavailable`, keeping its staged source so that an operator can queue
//! it again.

pub(crate) mod context;
mod decision;
mod job;
mod lane;
pub(crate) mod outcome;
pub mod record;
pub(crate) mod scripts;
mod status;

pub use decision::{Attempt, RetryRules, Started, Transition};
pub use job::{FailureCode, Job, JobFailure, JobSource};
pub use lane::Lane;

/// Most of an import's items one script ends or releases: the items
/// waiting behind a URL, and a cancelled import's stream entries, are
/// handled this many at a time, so that no script keeps Redis from
/// serving others for long, whatever an import holds.
pub const ITEM_BATCH: usize = 32;
pub use record::JobRecord;
pub use status::JobStatus;
