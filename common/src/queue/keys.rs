//! `Keys`: the names of every Redis key and channel the service uses, all
//! under one prefix so that deployments (and tests) can share a Redis
//! server. The layout is defined here and nowhere else: scripts are given
//! every key they touch, built by these methods.
//!
//! The prefix is the deployment's hash tag: every key starts with
//! `{prefix}:` (`{avatars}:jobs`, `{avatars}:job:01J…`), so on a Redis
//! Cluster every key of a deployment is in one slot, and every script,
//! whichever keys it is given, runs on one node.

use crate::jobs::Lane;
use crate::{IdempotencyKey, ImportId, JobId, UserId};

/// The consumer group every worker reads the job stream through.
pub const CONSUMER_GROUP: &str = "workers";

/// Key names under one hash-tagged prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    /// `{prefix}`: the hash tag every key starts with.
    tag: String,
}

impl Keys {
    /// Keys under `prefix`, which must hold neither `{` nor `}` (see
    /// [`crate::settings::redis_prefix`]).
    pub fn new(prefix: &str) -> Self {
        Self {
            tag: format!("{{{prefix}}}"),
        }
    }

    fn key(&self, rest: std::fmt::Arguments<'_>) -> String {
        format!("{}:{rest}", self.tag)
    }

    /// The stream of a lane's jobs waiting for or held by a worker.
    pub fn stream(&self, lane: Lane) -> String {
        match lane {
            Lane::Interactive => self.key(format_args!("jobs")),
            Lane::Bulk => self.key(format_args!("jobs:bulk")),
        }
    }

    /// A job's status record.
    pub fn job(&self, id: &JobId) -> String {
        self.key(format_args!("job:{id}"))
    }

    /// A user's current avatar and last accepted update.
    pub fn user(&self, user: &UserId) -> String {
        self.key(format_args!("user:{user}"))
    }

    /// The user's running jobs, scored by when their lease runs out (unix
    /// ms): what the cap on a user's running jobs counts.
    pub fn running(&self, user: &UserId) -> String {
        self.key(format_args!("running:{user}"))
    }

    /// The user's jobs parked while the user is at the cap, oldest first.
    pub fn parked(&self, user: &UserId) -> String {
        self.key(format_args!("parked:{user}"))
    }

    /// The users with parked jobs, scored by when one was last parked.
    pub fn parked_users(&self) -> String {
        self.key(format_args!("parked-users"))
    }

    /// The fetch permits held for an origin host, across the deployment.
    pub fn fetch_permits(&self, host: &str) -> String {
        self.key(format_args!("fetch-host:{host}"))
    }

    /// An import's record.
    pub fn import(&self, id: &ImportId) -> String {
        self.key(format_args!("import:{id}"))
    }

    /// An import's failed items, scored by index.
    pub fn import_failures(&self, id: &ImportId) -> String {
        self.key(format_args!("import:{id}:failures"))
    }

    /// An import's source URLs and the item that first named each.
    pub fn import_urls(&self, id: &ImportId) -> String {
        self.key(format_args!("import:{id}:urls"))
    }

    /// The items of an import waiting for the first item of `url` to store
    /// its avatar, oldest first.
    pub fn import_after(&self, id: &ImportId, url: &str) -> String {
        self.key(format_args!("import:{id}:after:{url}"))
    }

    /// The work left over by scripts that end an import's items in
    /// batches, scored by when it was listed: each member is a
    /// [`DrainWork`], as `lua/lib/imports.lua` writes it.
    pub fn drain(&self) -> String {
        self.key(format_args!("import-drain"))
    }

    /// The last webhook delivery number.
    pub fn hook_seq(&self) -> String {
        self.key(format_args!("hook:seq"))
    }

    /// Webhook delivery numbers scored by when the next attempt is due
    /// (unix ms).
    pub fn hook_due(&self) -> String {
        self.key(format_args!("hook:due"))
    }

    /// Deliveries to clients' callbackUrls, scored as [`Self::hook_due`]:
    /// a lane of their own, so the operator's never wait behind them.
    pub fn hook_due_callbacks(&self) -> String {
        self.key(format_args!("hook:due:callbacks"))
    }

    /// Each callback host that has failed lately: its failures in a row
    /// and until when it is backed off (unix ms), as `failures|until`.
    pub fn hook_hosts(&self) -> String {
        self.key(format_args!("hook:hosts"))
    }

    /// Each user's callback deliveries pending, for the cap on them.
    pub fn hook_callback_users(&self) -> String {
        self.key(format_args!("hook:callback-users"))
    }

    /// Webhook delivery numbers scored by when they were made.
    pub fn hook_pending(&self) -> String {
        self.key(format_args!("hook:pending"))
    }

    /// The webhook deliveries: each number's record, as JSON.
    pub fn hook_deliveries(&self) -> String {
        self.key(format_args!("hook:deliveries"))
    }

    /// The channel on which each new delivery's number is published, so
    /// that delivery pools wake at once.
    pub fn hook_wake_channel(&self) -> String {
        self.key(format_args!("hook:wake"))
    }

    /// Jobs waiting to be retried, scored by when (unix ms).
    pub fn retry_set(&self) -> String {
        self.key(format_args!("retry"))
    }

    /// Jobs that failed, scored by when (unix ms).
    pub fn failed_set(&self) -> String {
        self.key(format_args!("failed"))
    }

    /// Object keys to delete, scored by when they may go (unix ms).
    pub fn garbage_set(&self) -> String {
        self.key(format_args!("garbage"))
    }

    /// The user's avatars that are not current and not deleted yet (each
    /// also in [`Self::garbage_set`]), scored as there: what a DELETE of
    /// the user's avatar deletes at once.
    pub fn retained(&self, user: &UserId) -> String {
        self.key(format_args!("retained:{user}"))
    }

    /// The users whose avatar was deleted and whose staged uploads are
    /// still to remove: `{userId}\n{stamp}` (the delete's stamp), scored
    /// by when a worker may take it (unix ms).
    pub fn deletions(&self) -> String {
        self.key(format_args!("deletions"))
    }

    /// The channel on which a delete wakes the workers' upkeep.
    pub fn deletions_channel(&self) -> String {
        self.key(format_args!("deletions:wake"))
    }

    /// The job a user's idempotency key names.
    pub fn idempotency(&self, user: &UserId, key: &IdempotencyKey) -> String {
        self.key(format_args!("idem:{user}:{key}"))
    }

    /// A rate limit's bucket: `scope` names the limit (`user`, `address`),
    /// `subject` whom it counts.
    pub fn rate(&self, scope: &str, subject: &str) -> String {
        self.key(format_args!("rate:{scope}:{subject}"))
    }

    /// The channel on which finished job ids are published.
    pub fn finished_channel(&self) -> String {
        self.key(format_args!("finished"))
    }

    /// A key no script touches, in the place of a script's key that a call
    /// has no use for (the import keys of a job that is no import item).
    pub fn unused(&self) -> String {
        self.key(format_args!("unused"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_and_channel_starts_with_the_deployments_hash_tag() {
        let keys = Keys::new("avatars");
        let user: UserId = "u1".parse().expect("user");
        let import = ImportId::generate();
        for key in [
            keys.stream(Lane::Bulk),
            keys.user(&user),
            keys.import_after(&import, "https://x.example/{a}"),
            keys.hook_deliveries(),
            keys.finished_channel(),
            keys.unused(),
        ] {
            assert!(key.starts_with("{avatars}:"), "{key}");
        }
    }
}

/// A member of [`Keys::drain`]: `after`, the import's id and a URL, each on
/// a line, for the items of the import waiting behind that URL still to
/// release, fail or cancel; or `cancel` and the import's id, for a
/// cancelled import's stream entries still to delete. The scripts write
/// them (`drain_after_member`, `drain_cancel_member`); the drain reads
/// them back here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DrainWork<'a> {
    After { import: ImportId, url: &'a str },
    Cancel { import: ImportId },
}

impl<'a> DrainWork<'a> {
    /// The work `member` names, `None` for one that reads as none.
    pub(crate) fn parse(member: &'a str) -> Option<Self> {
        let mut parts = member.splitn(3, '\n');
        let (kind, import, url) = (parts.next()?, parts.next()?.parse().ok()?, parts.next());
        match (kind, url) {
            ("after", Some(url)) => Some(Self::After { import, url }),
            ("cancel", None) => Some(Self::Cancel { import }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod drain_work_tests {
    use super::*;

    #[test]
    fn drain_members_read_back_as_their_work() {
        let import: ImportId = "01M8T62ZQ28CF1MK8EHG08DDVZ".parse().expect("an import id");
        assert_eq!(
            DrainWork::parse(&format!("after\n{import}\nhttps://a.example/x?y=1")),
            Some(DrainWork::After {
                import,
                url: "https://a.example/x?y=1"
            })
        );
        assert_eq!(
            DrainWork::parse(&format!("cancel\n{import}")),
            Some(DrainWork::Cancel { import })
        );
        for junk in [
            "",
            "after",
            "cancel\nnot-an-id",
            &format!("cancel\n{import}\nx"),
            &format!("other\n{import}\nx"),
        ] {
            assert_eq!(DrainWork::parse(junk), None, "{junk:?}");
        }
    }
}
