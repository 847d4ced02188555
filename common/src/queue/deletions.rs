//! Deleting stored avatars: those superseded once their retention has
//! passed (the garbage set), and everything of a user's whose avatar a
//! DELETE removed (`delete.lua`): the avatars at once, through the garbage
//! set, and the staged uploads of the jobs accepted before it, through the
//! deletions set. Both sets are the durable record of work not done yet:
//! an entry goes only once its objects are gone, so a worker that dies
//! midway leaves it for the next look.

use redis::AsyncCommands;

use super::store::now_ms;
use super::{JobQueue, QueueError};
use crate::jobs::outcome::DeleteOutcome;
use crate::jobs::scripts::DeleteAvatar;
use crate::{ObjectKey, UserId};

/// How long a worker that took a deletion has it to itself before another
/// may take it (one that died with it).
const DELETION_LEASE_MS: u64 = 60_000;

/// A user's staged uploads to remove after a DELETE: those of the jobs
/// accepted before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub user: UserId,
    /// The delete's stamp: jobs with a smaller one were accepted before it.
    pub stamp: u64,
    /// Its member of the deletions set.
    member: String,
}

impl Deletion {
    fn parse(member: String) -> Option<Self> {
        let (user, stamp) = member.split_once('\n')?;
        Some(Self {
            user: user.parse().ok()?,
            stamp: stamp.parse().ok()?,
            member,
        })
    }
}

impl JobQueue {
    /// Removes `user`'s avatar (see `delete.lua`); returns whether there
    /// was one. Once this returns, the delete holds: no job accepted
    /// before it makes an avatar current, and the deletion of every stored
    /// object is recorded.
    pub async fn delete_avatar(&self, user: &UserId) -> Result<bool, QueueError> {
        let keys = self.keys();
        let outcome = DeleteAvatar {
            user: &keys.user(user),
            retained: &keys.retained(user),
            garbage: &keys.garbage_set(),
            deletions: &keys.deletions(),
            hook_seq: &keys.hook_seq(),
            hook_due: &keys.hook_due(),
            hook_pending: &keys.hook_pending(),
            hook_deliveries: &keys.hook_deliveries(),
            hook_due_callbacks: &keys.hook_due_callbacks(),
            hook_callback_users: &keys.hook_callback_users(),
            user_id: user.as_str(),
            now_ms: now_ms(),
            hook_url: self.hook_url(),
            hook_channel: &keys.hook_wake_channel(),
            wake_channel: &keys.deletions_channel(),
        }
        .invoke(&mut self.connection())
        .await?;
        self.replicated().await?;
        Ok(outcome == DeleteOutcome::Deleted)
    }

    /// The channel on which a delete wakes the workers' upkeep.
    pub fn deletions_channel(&self) -> String {
        self.keys().deletions_channel()
    }

    /// Object keys whose deletion is due.
    pub async fn due_garbage(&self, limit: usize) -> Result<Vec<ObjectKey>, QueueError> {
        let mut conn = self.connection();
        let keys: Vec<String> = conn
            .zrangebyscore_limit(
                self.keys().garbage_set(),
                "-inf",
                now_ms(),
                0,
                limit as isize,
            )
            .await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| ObjectKey::try_from(k).ok())
            .collect())
    }

    /// Forgets a deleted avatar, also among its user's avatars not current.
    pub async fn forget_garbage(&self, key: &ObjectKey) -> Result<(), QueueError> {
        let mut conn = self.connection();
        let mut pipe = redis::pipe();
        pipe.zrem(self.keys().garbage_set(), key.as_str()).ignore();
        if let Some(user) = key.avatar_user() {
            pipe.zrem(self.keys().retained(&user), key.as_str())
                .ignore();
        }
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// Takes up to `limit` deletions due, each kept from other workers for
    /// [`DELETION_LEASE_MS`].
    pub async fn take_deletions(&self, limit: usize) -> Result<Vec<Deletion>, QueueError> {
        let mut conn = self.connection();
        let set = self.keys().deletions();
        let now = now_ms();
        let due: Vec<String> = conn
            .zrangebyscore_limit(&set, "-inf", now, 0, limit as isize)
            .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for member in &due {
            pipe.cmd("ZADD")
                .arg(&set)
                .arg("XX")
                .arg(now + DELETION_LEASE_MS)
                .arg(member)
                .ignore();
        }
        let () = pipe.query_async(&mut conn).await?;
        Ok(due.into_iter().filter_map(Deletion::parse).collect())
    }

    /// Forgets a deletion whose staged uploads are gone.
    pub async fn forget_deletion(&self, deletion: &Deletion) -> Result<(), QueueError> {
        let mut conn = self.connection();
        let _: i64 = conn.zrem(self.keys().deletions(), &deletion.member).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deletion_reads_back_from_its_member() {
        let deletion = Deletion::parse("bob\n1733100000123".into()).expect("parses");
        assert_eq!(
            (deletion.user.as_str(), deletion.stamp),
            ("bob", 1_733_100_000_123)
        );
        for junk in ["bob", "bob\nsoon", "b o b\n1", ""] {
            assert_eq!(Deletion::parse(junk.into()), None, "{junk:?}");
        }
    }
}
