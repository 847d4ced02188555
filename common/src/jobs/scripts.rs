//! One typed wrapper per Lua script. Each wrapper is a struct whose fields
//! are the script's keys and arguments by name; the order of `KEYS` and
//! `ARGV` exists only in the wrapper's declaration, which also gives the
//! script its Lua names for them. The transitions of a job (start,
//! complete, fail, retry later) take the [`Context`] first, as a leading
//! block of both.
//!
//! Every script runs with this prelude before its own text:
//!
//! - `BATCH`: [`super::ITEM_BATCH`], the most of an import's items one
//!   script ends or releases;
//! - `K.<key>` and `A.<arg>`: its keys and arguments by name, the
//!   context's first for a transition; `REST_KEYS` and `REST`: the keys
//!   and arguments after those, for the scripts that take lists; `WAITING`:
//!   for a transition, the items waiting behind the job's URL (`{id,
//!   record}`), which travel there;
//! - `F.<field>`, `U.<field>`, `E.<field>`: the field names of the job
//!   record, the user hash and the stream entry, from [`super::record`];
//! - `S.<state>`: the [`JobStatus`] names;
//! - `I.<field>`, `IS.<state>`: the import record's fields and the
//!   [`ImportStatus`] names, from [`crate::imports`];
//! - `W.<field>`, `ET.<type>`: a webhook delivery's fields and the event
//!   types (`.` written `_`), from [`crate::webhooks`];
//! - the shared functions of `lua/lib/` (see [`LIBRARY`]): acknowledging an
//!   entry and adding one, stamping and recording a job, the recorded-once
//!   guard, expiry, webhook deliveries, an import's bookkeeping, the
//!   release of a user's running slot, and the check of the context's
//!   lists. They read the context's names from `K` and `A`; a script that
//!   calls one without the whole context declares the names it reads
//!   itself.
//!
//! So a field is renamed in Rust alone, and a script that names a field or
//! argument that does not exist fails in the first test that runs it.
//! Every key a script touches arrives in `KEYS`; none is built in Lua.

use redis::RedisError;
use redis::Script;
use redis::aio::ConnectionLike;

use super::JobStatus;
use super::context::{Context, ImportContext, Lead};
use super::outcome::{
    Answer, CancelOutcome, CompleteOutcome, DeleteOutcome, DrainOutcome, EnqueueOutcome,
    FailOutcome, HookOutcome, PermitOutcome, PromoteOutcome, RateOutcome, RetryOutcome,
    StartOutcome,
};
use super::record::{entry_field, field, user_field};
use crate::imports::{self, ImportStatus};
use crate::webhooks;

/// The Lua prelude that names the keys, arguments, fields and states,
/// followed by the shared functions.
fn prelude(keys: &[&str], args: &[&str], waiting: bool) -> String {
    fn table(name: &str, entries: impl Iterator<Item = (String, String)>) -> String {
        let body: Vec<String> = entries.map(|(k, v)| format!("{k} = {v}")).collect();
        format!("local {name} = {{{}}}\n", body.join(", "))
    }
    let quoted = |names: &'static [(&'static str, &'static str)]| {
        names
            .iter()
            .map(|(rust, stored)| (rust.to_lowercase(), format!("'{stored}'")))
    };
    let mut lua = String::new();
    lua += &table(
        "K",
        keys.iter()
            .enumerate()
            .map(|(i, k)| ((*k).to_owned(), format!("KEYS[{}]", i + 1))),
    );
    lua += &table(
        "A",
        args.iter()
            .enumerate()
            .map(|(i, a)| ((*a).to_owned(), format!("ARGV[{}]", i + 1))),
    );
    lua += &format!(
        "local REST_KEYS = {{}}\nfor i = {}, #KEYS do REST_KEYS[#REST_KEYS + 1] = KEYS[i] end\n",
        keys.len() + 1
    );
    lua += &format!(
        "local REST = {{}}\nfor i = {}, #ARGV do REST[#REST + 1] = ARGV[i] end\n",
        args.len() + 1
    );
    lua += &format!("local BATCH = {}\n", super::ITEM_BATCH);
    lua += &format!(
        "local FAILURES_KEPT = {}\nlocal FAILURE_TEXT_BYTES = {}\n",
        imports::FAILURES_KEPT,
        imports::FAILURE_TEXT_BYTES
    );
    lua += "local WAITING = {}\n";
    if waiting {
        lua += "for i, id in ipairs(REST) do WAITING[i] = {id = id, record = REST_KEYS[i]} end\n";
    }
    lua += &table("F", quoted(field::ALL));
    lua += &table("U", quoted(user_field::ALL));
    lua += &table("E", quoted(entry_field::ALL));
    lua += &table("I", quoted(imports::field::ALL));
    lua += &table("W", quoted(webhooks::field::ALL));
    lua += &table(
        "ET",
        webhooks::EventType::ALL
            .iter()
            .map(|t| (t.as_str().replace('.', "_"), format!("'{}'", t.as_str()))),
    );
    lua += &table(
        "IS",
        ImportStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), format!("'{}'", s.as_str()))),
    );
    lua += &table(
        "S",
        JobStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), format!("'{}'", s.as_str()))),
    );
    lua += LIBRARY;
    lua
}

/// The Lua functions the scripts share, in the order they build on each
/// other.
const LIBRARY: &str = concat!(
    include_str!("lua/lib/entries.lua"),
    include_str!("lua/lib/records.lua"),
    include_str!("lua/lib/avatars.lua"),
    include_str!("lua/lib/hooks.lua"),
    include_str!("lua/lib/imports.lua"),
    include_str!("lua/lib/slots.lua"),
    include_str!("lua/lib/context.lua"),
);

/// A script that takes a leading block ([`Lead`]) first: a transition
/// takes the [`Context`] and answers [`Answer`]s.
pub(crate) trait LeadScript<L: Lead> {
    type Outcome;

    /// Runs the script on `conn` with `lead` first.
    async fn invoke(
        &self,
        lead: &L,
        conn: &mut impl ConnectionLike,
    ) -> Result<Self::Outcome, RedisError>;
}

/// Declares a script wrapper: its Lua file, its keys, its
/// arguments and, optionally, trailing lists of keys and of arguments. A
/// script with a leading block (`"file.lua", lead = Context`) takes it
/// first, through [`LeadScript`].
macro_rules! script {
    (@wrapper
        $(#[$doc:meta])*
        $name:ident $(<$lt:lifetime>)? ($file:literal, $lead_keys:expr, $lead_args:expr, $waiting:expr) {
            keys { $($key:ident: $key_ty:ty),* $(,)? }
            args { $($(#[$arg_doc:meta])* $arg:ident: $arg_ty:ty),* $(,)? }
            $(rest_keys { $(#[$rest_keys_doc:meta])* $rest_keys:ident: $rest_keys_ty:ty })?
            $(rest { $(#[$rest_doc:meta])* $rest:ident: $rest_ty:ty })?
        }
    ) => {
        $(#[$doc])*
        pub(crate) struct $name $(<$lt>)? {
            $(pub $key: $key_ty,)*
            $($(#[$arg_doc])* pub $arg: $arg_ty,)*
            $($(#[$rest_keys_doc])* pub $rest_keys: $rest_keys_ty,)?
            $($(#[$rest_doc])* pub $rest: $rest_ty,)?
        }

        impl $(<$lt>)? $name $(<$lt>)? {
            fn script() -> &'static Script {
                static SCRIPT: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| {
                    let (lead_keys, waiting): (&[&str], bool) = ($lead_keys, $waiting);
                    let lead_args: &[&str] = $lead_args;
                    let keys: Vec<&str> = lead_keys.iter().copied().chain([$(stringify!($key)),*]).collect();
                    let args: Vec<&str> = lead_args.iter().copied().chain([$(stringify!($arg)),*]).collect();
                    Script::new(&format!("{}{}", prelude(&keys, &args, waiting), include_str!($file)))
                });
                &SCRIPT
            }

            /// Adds the script's own keys and arguments to `call`.
            #[allow(unused_variables)]
            fn own(&self, call: &mut redis::ScriptInvocation<'_>) {
                $(call.key(self.$key);)*
                $(call.arg(&self.$arg);)*
                $(call.key(self.$rest_keys);)?
                $(call.arg(self.$rest);)?
            }
        }
    };
    (
        $(#[$doc:meta])*
        $name:ident $(<$lt:lifetime>)? ($file:literal, lead = $lead:ty) -> $ret:ty { $($body:tt)* }
    ) => {
        script!(@wrapper $(#[$doc])* $name $(<$lt>)? ($file, <$lead as Lead>::KEYS, <$lead as Lead>::ARGS, <$lead as Lead>::TRAIL) { $($body)* });

        impl $(<$lt>)? LeadScript<$lead> for $name $(<$lt>)? {
            type Outcome = $ret;

            async fn invoke(
                &self,
                lead: &$lead,
                conn: &mut impl ConnectionLike,
            ) -> Result<$ret, RedisError> {
                let mut call = Self::script().prepare_invoke();
                lead.lead(&mut call);
                self.own(&mut call);
                lead.trail(&mut call);
                call.invoke_async(conn).await
            }
        }
    };
    (
        $(#[$doc:meta])*
        $name:ident $(<$lt:lifetime>)? ($file:literal) -> $ret:ty { $($body:tt)* }
    ) => {
        script!(@wrapper $(#[$doc])* $name $(<$lt>)? ($file, &[], &[], false) { $($body)* });

        impl $(<$lt>)? $name $(<$lt>)? {
            /// Runs the script on `conn`.
            pub async fn invoke(&self, conn: &mut impl ConnectionLike) -> Result<$ret, RedisError> {
                let mut call = Self::script().prepare_invoke();
                self.own(&mut call);
                call.invoke_async(conn).await
            }
        }
    };
}

script! {
    /// Accepts a job: stamps it, records it and adds it to the stream; or,
    /// when its idempotency key was seen before, answers the earlier job.
    Enqueue<'a>("lua/enqueue.lua") -> EnqueueOutcome {
        keys { user: &'a str, job: &'a str, stream: &'a str, idempotency: &'a str }
        args {
            job_id: &'a str,
            user_id: &'a str,
            now_ms: u64,
            /// The [`Job`](super::Job) as JSON.
            job_json: &'a str,
            now_us: u64,
            /// The idempotency key, or empty for none (then `idempotency`
            /// may name any key).
            idempotency_key: &'a str,
            idempotency_ttl_secs: u64,
            /// The job's `callbackUrl`, or empty.
            callback_url: &'a str,
        }
    }
}

script! {
    /// Marks a job as being processed and counts the attempt, unless its
    /// user already runs `cap` jobs: then the job is parked until one of
    /// them ends, and its entry acknowledged. An import item ends here
    /// instead when its import was cancelled, or when it may only fill a
    /// missing avatar and its user has one.
    Start("lua/start.lua", lead = Context) -> Answer<StartOutcome> {
        keys {}
        args {}
    }
}

script! {
    /// Records a finished avatar, makes it current unless a later one
    /// already is, acknowledges the entry, schedules the deletion of the
    /// avatar no longer current, and announces the job.
    Complete<'a>("lua/complete.lua", lead = Context) -> Answer<CompleteOutcome> {
        keys { garbage: &'a str, retained: &'a str }
        args {
            stamp: u64,
            /// The key of the avatar's largest side.
            object_key: &'a str,
            /// The sides it was made at, as `Sides` writes them.
            sides: &'a str,
            /// Its ThumbHash, base64.
            placeholder: &'a str,
            /// When the avatar no longer current may be deleted (unix ms).
            delete_after_ms: u64,
        }
    }
}

script! {
    /// Records a failed job, indexes it for `requeue-failed`, acknowledges
    /// its entry and announces it.
    Fail<'a>("lua/fail.lua", lead = Context) -> Answer<FailOutcome> {
        keys { failed: &'a str }
        args {
            code: &'a str,
            message: &'a str,
        }
    }
}

script! {
    /// Takes a job off the stream into the retry set, due at `due_ms`.
    RetryLater<'a>("lua/retry.lua", lead = Context) -> Answer<RetryOutcome> {
        keys { retry: &'a str }
        args {
            due_ms: u64,
            reason: &'a str,
        }
    }
}

script! {
    /// Puts jobs back on the stream, rebuilt from their records: due
    /// retries (`kind` "retry") or failed jobs an operator queues again
    /// ("failed"). Returns how many moved.
    Requeue<'a>("lua/requeue.lua") -> u64 {
        keys { interactive: &'a str, bulk: &'a str, from: &'a str }
        args {
            kind: &'a str,
            now_ms: u64,
        }
        rest_keys {
            /// The jobs' records.
            records: &'a [String]
        }
        rest {
            /// The job ids, in the order of their records.
            ids: &'a [String]
        }
    }
}

script! {
    /// Moves parked jobs back to the stream for the users given, now under
    /// the cap: their running jobs ended without releasing, as when a
    /// worker died.
    PromoteParked<'a>("lua/promote_parked.lua") -> PromoteOutcome {
        keys { parked_users: &'a str, interactive: &'a str, bulk: &'a str }
        args {
            cap: u32,
            now_ms: u64,
        }
        rest_keys {
            /// Three per user: the running set, the parked list and the
            /// record of the job at the list's head (or an unused key).
            user_keys: &'a [String]
        }
        rest {
            /// Two per user: the user id and the id at the head of the
            /// parked list, as read (or empty).
            users: &'a [String]
        }
    }
}

script! {
    /// Takes one of the `limit` fetch permits of an origin host for
    /// `member` until `now_ms + lease_ms`, forgetting permits whose lease
    /// ran out (their worker died mid-fetch).
    AcquireHost<'a>("lua/acquire_host.lua") -> PermitOutcome {
        keys { permits: &'a str }
        args {
            member: &'a str,
            now_ms: u64,
            lease_ms: u64,
            limit: u32,
        }
    }
}

script! {
    /// Removes a user's avatar: clears the current one in the step that
    /// stamps the delete (so no job accepted before it can make an avatar
    /// current afterwards), makes every stored avatar of the user due for
    /// deletion now, lists the user's staged uploads for removal, records
    /// `avatar.deleted` when there was an avatar, and wakes the workers.
    DeleteAvatar<'a>("lua/delete.lua") -> DeleteOutcome {
        keys {
            user: &'a str,
            retained: &'a str,
            garbage: &'a str,
            deletions: &'a str,
            hook_seq: &'a str,
            hook_due: &'a str,
            hook_pending: &'a str,
            hook_deliveries: &'a str,
            hook_due_callbacks: &'a str,
            hook_callback_users: &'a str,
        }
        args {
            user_id: &'a str,
            now_ms: u64,
            /// The operator's webhook URL, or empty.
            hook_url: &'a str,
            hook_channel: &'a str,
            /// Where the workers' upkeep listens.
            wake_channel: &'a str,
        }
    }
}

script! {
    /// Counts one request against the limit of `burst` requests at once
    /// and one per `interval_us` after that, kept in `bucket`.
    RateLimit<'a>("lua/rate.lua") -> RateOutcome {
        keys { bucket: &'a str }
        args {
            now_us: u64,
            interval_us: u64,
            burst: u32,
        }
    }
}

script! {
    /// Accepts a batch of an import's items, in index order (see
    /// `import_items.lua` for the layout of the lists). Returns how many
    /// became jobs.
    ImportItems<'a>("lua/import_items.lua") -> u64 {
        keys { import: &'a str, stream: &'a str, failures: &'a str, urls: &'a str }
        args {
            import_id: &'a str,
            now_ms: u64,
            now_us: u64,
            /// How many invalid items `items` starts with.
            invalid: usize,
        }
        rest_keys {
            /// Three per valid item.
            item_keys: &'a [String]
        }
        rest {
            /// Two per invalid item, then five per valid one.
            items: &'a [String]
        }
    }
}

script! {
    /// Marks an import's body as read whole; returns its total.
    ImportSeal("lua/import_seal.lua", lead = ImportContext) -> u64 {
        keys {}
        args {}
    }
}

script! {
    /// Cancels an import's items not yet started.
    ImportCancel("lua/import_cancel.lua", lead = ImportContext) -> CancelOutcome {
        keys {}
        args {}
    }
}

script! {
    /// Releases, fails or cancels one batch of the items waiting behind
    /// `url` in an import (see `import_drain.lua`).
    ImportDrain<'a>("lua/import_drain.lua", lead = ImportContext) -> DrainOutcome {
        keys { import_after: &'a str, stream: &'a str }
        args {
            url: &'a str,
            /// The work's member of the drain set.
            member: &'a str,
        }
        rest_keys {
            /// The records of the items, in the order of `ids`.
            records: &'a [String]
        }
        rest {
            /// The ids at the head of the list, as read.
            ids: &'a [String]
        }
    }
}

script! {
    /// Deletes one batch of a cancelled import's stream entries (see
    /// `import_cancel_scan.lua`).
    ImportCancelScan<'a>("lua/import_cancel_scan.lua", lead = ImportContext) -> DrainOutcome {
        keys { stream: &'a str }
        args {
            import_id: &'a str,
            member: &'a str,
            /// The last entry read.
            cursor: &'a str,
            /// "1" when the read reached the end of the stream.
            done: &'a str,
        }
        rest_keys {
            /// The records of the import's items read.
            records: &'a [String]
        }
        rest {
            /// Three per item: its entry, job id and URL.
            items: &'a [String]
        }
    }
}

script! {
    /// Claims up to `limit` due webhook deliveries of the lane `hook_due`
    /// for `lease_ms`, putting off those whose host is backed off; returns
    /// their records' fields.
    HooksClaim<'a>("lua/hooks_claim.lua") -> Vec<std::collections::HashMap<String, String>> {
        keys {
            hook_due: &'a str,
            hook_pending: &'a str,
            hook_deliveries: &'a str,
            hook_hosts: &'a str,
        }
        args {
            now_ms: u64,
            lease_ms: u64,
            limit: u32,
        }
    }
}

script! {
    /// Forgets a delivered or given-up webhook delivery.
    HooksEnd<'a>("lua/hooks_end.lua") -> HookOutcome {
        keys {
            hook_due: &'a str,
            hook_due_callbacks: &'a str,
            hook_pending: &'a str,
            hook_deliveries: &'a str,
            hook_hosts: &'a str,
            hook_callback_users: &'a str,
        }
        args {
            id: u64,
            /// `1` when the receiver took it.
            delivered: u8,
        }
    }
}

script! {
    /// Schedules a webhook delivery's next attempt at `due_ms`, counting
    /// the failure against a callback's host; or, `deferred`, only puts
    /// it off.
    HooksRetry<'a>("lua/hooks_retry.lua") -> HookOutcome {
        keys {
            hook_due: &'a str,
            hook_due_callbacks: &'a str,
            hook_deliveries: &'a str,
            hook_hosts: &'a str,
        }
        args {
            id: u64,
            due_ms: u64,
            now_ms: u64,
            reason: &'a str,
            deferred: u8,
            trip_after: u32,
            pause_first_ms: u64,
            pause_max_ms: u64,
        }
    }
}

script! {
    /// Puts entries a worker holds but will not run back at the end of the
    /// stream, so another worker takes them at once. Returns how many.
    HandBack<'a>("lua/hand_back.lua") -> u64 {
        keys { stream: &'a str }
        args { group: &'a str }
        rest {
            /// The stream entry ids.
            entries: &'a [String]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prelude_names_keys_arguments_and_the_lists_after_them_in_order() {
        let lua = prelude(&["job", "stream"], &["group", "entry"], true);
        assert!(
            lua.contains("local K = {job = KEYS[1], stream = KEYS[2]}"),
            "{lua}"
        );
        assert!(
            lua.contains("local A = {group = ARGV[1], entry = ARGV[2]}"),
            "{lua}"
        );
        assert!(lua.contains("for i = 3, #KEYS do"), "{lua}");
        assert!(lua.contains("for i = 3, #ARGV do"), "{lua}");
        assert!(lua.contains("status = 'status'"), "{lua}");
        assert!(lua.contains("retry_later = 'retry_later'"), "{lua}");
    }

    #[test]
    fn no_script_builds_a_key_it_was_not_given() {
        // Keys are built only in Rust (`Keys`): a script that joins strings
        // into a key would touch one missing from its KEYS.
        let sources = [
            LIBRARY,
            include_str!("lua/start.lua"),
            include_str!("lua/complete.lua"),
            include_str!("lua/fail.lua"),
            include_str!("lua/retry.lua"),
            include_str!("lua/requeue.lua"),
            include_str!("lua/promote_parked.lua"),
            include_str!("lua/import_items.lua"),
            include_str!("lua/hooks_claim.lua"),
        ];
        for source in sources {
            assert!(!source.contains("_prefix"), "{source}");
        }
    }
}
