//! The webhook side of [`JobQueue`]: claiming due deliveries and recording
//! how each attempt went (see [`crate::webhooks`]).

use std::time::Duration;

use redis::AsyncCommands;

use super::store::now_ms;
use super::{JobQueue, QueueError};
use crate::UserId;
use crate::jobs::scripts::{HooksClaim, HooksEnd, HooksRetry};
use crate::webhooks::{Delivery, HOST_PAUSE_FIRST, HOST_PAUSE_MAX, HOST_TRIP_AFTER, Target};
use crate::{ImportId, imports::ImportRecord};

/// How many deliveries wait, and since when the oldest does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HooksPending {
    pub count: u64,
    pub oldest: Option<Duration>,
}

impl JobQueue {
    /// The channel new deliveries are announced on.
    pub fn hook_wake_channel(&self) -> String {
        self.keys().hook_wake_channel()
    }

    /// Claims up to `limit` due deliveries of `lane` for `lease`. A record
    /// that does not read back is logged and forgotten.
    pub async fn claim_hooks(
        &self,
        lane: Target,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let keys = self.keys();
        let due = match lane {
            Target::Operator => keys.hook_due(),
            Target::Callback => keys.hook_due_callbacks(),
        };
        let records = HooksClaim {
            hook_due: &due,
            hook_pending: &keys.hook_pending(),
            hook_deliveries: &keys.hook_deliveries(),
            hook_hosts: &keys.hook_hosts(),
            now_ms: now_ms(),
            lease_ms: lease.as_millis() as u64,
            limit,
        }
        .invoke(&mut self.connection())
        .await?;
        let mut claimed = Vec::with_capacity(records.len());
        for record in records {
            let id = record.get("id").cloned().unwrap_or_default();
            match Delivery::parse(record) {
                Ok(delivery) => claimed.push(delivery),
                Err(e) => {
                    tracing::error!(delivery = %id, error = %e, "dropping an unreadable webhook delivery");
                    if let Ok(id) = id.parse() {
                        self.end_hook(id, false).await?;
                    }
                }
            }
        }
        Ok(claimed)
    }

    /// Forgets delivery `id`: `delivered`, or given up.
    pub async fn end_hook(&self, id: u64, delivered: bool) -> Result<(), QueueError> {
        let keys = self.keys();
        HooksEnd {
            hook_due: &keys.hook_due(),
            hook_due_callbacks: &keys.hook_due_callbacks(),
            hook_pending: &keys.hook_pending(),
            hook_deliveries: &keys.hook_deliveries(),
            hook_hosts: &keys.hook_hosts(),
            hook_callback_users: &keys.hook_callback_users(),
            id,
            delivered: u8::from(delivered),
        }
        .invoke(&mut self.connection())
        .await?;
        Ok(())
    }

    /// Schedules delivery `id` again after `delay`, its attempt failed
    /// for `reason`; a callback's failure counts against its host.
    pub async fn retry_hook(
        &self,
        id: u64,
        delay: Duration,
        reason: &str,
    ) -> Result<(), QueueError> {
        self.reschedule_hook(id, delay, reason, false).await
    }

    /// Puts delivery `id` off by `delay` without an attempt.
    pub async fn defer_hook(&self, id: u64, delay: Duration) -> Result<(), QueueError> {
        self.reschedule_hook(id, delay, "", true).await
    }

    async fn reschedule_hook(
        &self,
        id: u64,
        delay: Duration,
        reason: &str,
        deferred: bool,
    ) -> Result<(), QueueError> {
        let keys = self.keys();
        let now_ms = now_ms();
        HooksRetry {
            hook_due: &keys.hook_due(),
            hook_due_callbacks: &keys.hook_due_callbacks(),
            hook_deliveries: &keys.hook_deliveries(),
            hook_hosts: &keys.hook_hosts(),
            id,
            due_ms: now_ms + delay.as_millis() as u64,
            now_ms,
            reason,
            deferred: u8::from(deferred),
            trip_after: HOST_TRIP_AFTER,
            pause_first_ms: HOST_PAUSE_FIRST.as_millis() as u64,
            pause_max_ms: HOST_PAUSE_MAX.as_millis() as u64,
        }
        .invoke(&mut self.connection())
        .await?;
        Ok(())
    }

    /// How many callback deliveries of `user` are pending.
    pub async fn pending_callbacks(&self, user: &UserId) -> Result<u64, QueueError> {
        let pending: Option<u64> = self
            .connection()
            .hget(self.keys().hook_callback_users(), user.as_str())
            .await?;
        Ok(pending.unwrap_or(0))
    }

    /// How many deliveries are pending, and the age of the oldest.
    pub async fn hooks_pending(&self) -> Result<HooksPending, QueueError> {
        let mut conn = self.connection();
        let key = self.keys().hook_pending();
        let count: u64 = conn.zcard(&key).await?;
        let oldest: Vec<(String, f64)> = conn.zrange_withscores(&key, 0, 0).await?;
        Ok(HooksPending {
            count,
            oldest: oldest
                .first()
                .map(|(_, made)| Duration::from_millis(now_ms().saturating_sub(*made as u64))),
        })
    }

    /// The import an `import.completed` event names, as its body shows it.
    pub async fn completed_import(&self, id: &str) -> Result<Option<ImportRecord>, QueueError> {
        match id.parse::<ImportId>() {
            Ok(id) => self.import_record(&id).await,
            Err(_) => Ok(None),
        }
    }
}
