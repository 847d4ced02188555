//! `Context`: what every transition of a job (start, complete, fail, retry
//! later) needs, built once by [`Context::new`] and passed to its script
//! the same way each time.
//!
//! # How it travels
//!
//! As a fixed leading block of `KEYS` and of `ARGV`, ahead of the script's
//! own keys and arguments, and named in Lua by the same prelude that names
//! those (`K.job`, `A.now_ms`; see [`super::scripts`]). Not as one encoded
//! argument: every key a script touches has to be in `KEYS` anyway (that is
//! what lets a Redis Cluster route the call, and a reader see what it may
//! change), so the keys could not travel encoded; and the scalars then
//! follow as ordinary arguments, strings as Redis hands every argument to
//! Lua, with nothing to encode in Rust or decode in each call.
//!
//! # The lists it is read from
//!
//! Two keys of a transition name records by id in lists: the head of the
//! user's parked list (moved back to its stream when the job's slot is
//! released) and the items waiting behind the job's URL in its import
//! (released, failed or cancelled with it, the first
//! [`ITEM_BATCH`](super::ITEM_BATCH) of them in the transition and the
//! rest by the drain, see `import_drain.lua`). The caller cannot know those
//! ids before the script runs, so it builds the context from the lists as
//! it last saw them (empty at first), and a script that finds a list
//! changed does nothing and answers `stale` with the lists as they are; the
//! caller builds the context again from those and runs the script again.
//! In the common case (no parked job, no item waiting) the first call is
//! the only one.

use redis::ScriptInvocation;

use super::Job;
use crate::queue::CONSUMER_GROUP;
use crate::queue::{FairShare, Keys};
use crate::{ImportId, JobId};

/// A leading block of `KEYS` and `ARGV`, passed ahead of a script's own.
pub(crate) trait Lead {
    /// The names of the leading keys, in order.
    const KEYS: &'static [&'static str];
    /// The names of the leading arguments, in order.
    const ARGS: &'static [&'static str];
    /// Whether pairs travel after the script's own keys and arguments.
    const TRAIL: bool;

    /// Adds the leading keys and arguments to `call`.
    fn lead(&self, call: &mut ScriptInvocation<'_>);

    /// Adds what follows the script's own keys and arguments to `call`.
    fn trail(&self, call: &mut ScriptInvocation<'_>);
}

/// Declares a leading block's keys and arguments, in the order they
/// travel, and optionally a list of `(argument, key)` pairs that travel
/// after the script's own (`WAITING` in Lua).
macro_rules! lead {
    (
        $(#[$doc:meta])*
        $name:ident {
            keys { $($(#[$key_doc:meta])* $key:ident),* $(,)? }
            args { $($(#[$arg_doc:meta])* $arg:ident: $arg_ty:ty),* $(,)? }
            $(trail { $(#[$trail_doc:meta])* $trail:ident })?
        }
    ) => {
        $(#[$doc])*
        pub(crate) struct $name {
            $($(#[$key_doc])* pub $key: String,)*
            $($(#[$arg_doc])* pub $arg: $arg_ty,)*
            $($(#[$trail_doc])* pub $trail: Vec<(String, String)>,)?
        }

        impl Lead for $name {
            const KEYS: &'static [&'static str] = &[$(stringify!($key)),*];
            const ARGS: &'static [&'static str] = &[$(stringify!($arg)),*];
            const TRAIL: bool = !<[&str]>::is_empty(&[$(stringify!($trail))?]);

            fn lead(&self, call: &mut ScriptInvocation<'_>) {
                $(call.key(&self.$key);)*
                $(call.arg(&self.$arg);)*
            }

            #[allow(unused_variables)]
            fn trail(&self, call: &mut ScriptInvocation<'_>) {
                $(for (arg, key) in &self.$trail {
                    call.key(key);
                    call.arg(arg);
                })?
            }
        }
    };
}

lead! {
    /// What every transition of a job needs.
    Context {
        keys {
            /// The job's record.
            job,
            /// The user's hash.
            user,
            /// The stream of the job's lane, where its entry is.
            stream,
            /// Both lanes' streams, where a parked job goes back to.
            interactive,
            bulk,
            /// The fair share: the user's running set, parked list, the
            /// users with parked jobs, and the record of the parked job at
            /// the list's head (or an unused key).
            running,
            parked,
            parked_users,
            parked_next_record,
            /// The job's import: its record, failures, URLs and the items
            /// waiting behind the job's URL (unused keys for a job that is
            /// no import item).
            import,
            import_failures,
            import_urls,
            import_after,
            /// The work left for batches (see [`Keys::drain`]).
            drain,
            /// The webhook deliveries.
            hook_seq,
            hook_due,
            hook_pending,
            hook_deliveries,
            hook_due_callbacks,
            hook_callback_users,
        }
        args {
            now_ms: u64,
            now_us: u64,
            job_id: String,
            user_id: String,
            /// The job's JSON, as its stream entry holds it: written to its
            /// record only when the job leaves the stream without ending
            /// (parked, to retry, failed), to be rebuilt from there.
            job_json: String,
            /// The job's acceptance stamp, from its stream entry.
            stamp: u64,
            group: &'static str,
            /// The job's stream entry.
            entry: String,
            /// Most jobs one user may run at once; 0: no cap.
            cap: u32,
            /// How long a running job counts against the cap without
            /// ending (a worker that died), in ms.
            lease_ms: u64,
            /// Lifetime of a record that ends; 0 keeps it.
            record_ttl_secs: u64,
            /// The channel finished jobs are announced on.
            channel: String,
            /// The channel new webhook deliveries are announced on.
            hook_channel: String,
            /// The operator's webhook URL, or empty.
            hook_url: String,
            /// The job's import, or empty.
            import_id: String,
            /// The item's index in its import and its URL, or empty.
            import_index: String,
            import_url: String,
            /// The id at the head of the user's parked list, or empty.
            parked_next: String,
        }
        trail {
            /// The first [`ITEM_BATCH`](super::ITEM_BATCH) items waiting
            /// behind the job's URL, as last read: their ids and their
            /// records' keys.
            waiting
        }
    }
}

lead! {
    /// What the scripts that may end an import without a job need: the
    /// import's keys, the webhook deliveries' and the clock.
    ImportContext {
        keys {
            import,
            import_failures,
            import_urls,
            drain,
            hook_seq,
            hook_due,
            hook_pending,
            hook_deliveries,
            hook_due_callbacks,
            hook_callback_users,
        }
        args {
            now_ms: u64,
            /// Lifetime of an ended import; 0 keeps it.
            record_ttl_secs: u64,
            hook_channel: String,
            /// The operator's webhook URL, or empty.
            hook_url: String,
        }
    }
}

impl ImportContext {
    /// The context of import `id`, now.
    pub fn new(
        keys: &Keys,
        id: &ImportId,
        now_ms: u64,
        record_ttl_secs: u64,
        hook_url: &str,
    ) -> Self {
        Self {
            import: keys.import(id),
            import_failures: keys.import_failures(id),
            import_urls: keys.import_urls(id),
            drain: keys.drain(),
            hook_seq: keys.hook_seq(),
            hook_due: keys.hook_due(),
            hook_pending: keys.hook_pending(),
            hook_deliveries: keys.hook_deliveries(),
            hook_due_callbacks: keys.hook_due_callbacks(),
            hook_callback_users: keys.hook_callback_users(),
            now_ms,
            record_ttl_secs,
            hook_channel: keys.hook_wake_channel(),
            hook_url: hook_url.to_owned(),
        }
    }
}

/// What a context is built from besides the job: the queue's settings.
pub(crate) struct Settings<'a> {
    pub keys: &'a Keys,
    pub fair: FairShare,
    pub record_ttl_secs: u64,
    pub hook_url: &'a str,
}

impl Context {
    /// The context of a transition of `job`, accepted with `stamp`, whose
    /// stream entry is `entry`, at `now_us`, with the parked list's head
    /// and the waiting items as last read.
    pub fn new(
        settings: &Settings<'_>,
        job: &Job,
        stamp: u64,
        entry: &str,
        now_us: u64,
        parked_next: Option<&JobId>,
        waiting: &[JobId],
    ) -> Self {
        let keys = settings.keys;
        let (import, import_failures, import_urls, import_after, import_id, import_index, url) =
            match (&job.import, &job.source) {
                (Some(item), super::JobSource::Url { url }) => (
                    keys.import(&item.id),
                    keys.import_failures(&item.id),
                    keys.import_urls(&item.id),
                    keys.import_after(&item.id, url.as_url().as_str()),
                    item.id.to_string(),
                    item.index.to_string(),
                    url.as_url().as_str().to_owned(),
                ),
                _ => (
                    keys.unused(),
                    keys.unused(),
                    keys.unused(),
                    keys.unused(),
                    String::new(),
                    String::new(),
                    String::new(),
                ),
            };
        Self {
            job: keys.job(&job.id),
            user: keys.user(&job.user),
            stream: keys.stream(job.lane),
            interactive: keys.stream(super::Lane::Interactive),
            bulk: keys.stream(super::Lane::Bulk),
            running: keys.running(&job.user),
            parked: keys.parked(&job.user),
            parked_users: keys.parked_users(),
            parked_next_record: parked_next.map_or_else(|| keys.unused(), |id| keys.job(id)),
            import,
            import_failures,
            import_urls,
            import_after,
            drain: keys.drain(),
            hook_seq: keys.hook_seq(),
            hook_due: keys.hook_due(),
            hook_pending: keys.hook_pending(),
            hook_deliveries: keys.hook_deliveries(),
            hook_due_callbacks: keys.hook_due_callbacks(),
            hook_callback_users: keys.hook_callback_users(),
            now_ms: now_us / 1000,
            now_us,
            job_id: job.id.to_string(),
            user_id: job.user.as_str().to_owned(),
            job_json: serde_json::to_string(job).expect("a job serializes"),
            stamp,
            group: CONSUMER_GROUP,
            entry: entry.to_owned(),
            cap: settings.fair.max_running,
            lease_ms: settings.fair.lease.as_millis() as u64,
            record_ttl_secs: settings.record_ttl_secs,
            channel: keys.finished_channel(),
            hook_channel: keys.hook_wake_channel(),
            hook_url: settings.hook_url.to_owned(),
            import_id,
            import_index,
            import_url: url,
            parked_next: parked_next.map(ToString::to_string).unwrap_or_default(),
            waiting: waiting
                .iter()
                .map(|id| (id.to_string(), keys.job(id)))
                .collect(),
        }
    }
}
