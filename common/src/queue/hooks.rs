//! The webhook side of [`JobQueue`]: claiming due deliveries and recording
//! how each attempt went (see [`crate::webhooks`]).

use std::time::Duration;

use redis::AsyncCommands;

use super::store::now_ms;
use super::{JobQueue, QueueError};
use crate::jobs::scripts::{HooksClaim, HooksEnd, HooksRetry};
use crate::webhooks::Delivery;
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

    /// Claims up to `limit` due deliveries for `lease`. A record that does
    /// not read back is logged and forgotten.
    pub async fn claim_hooks(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let keys = self.keys();
        let records = HooksClaim {
            hook_due: &keys.hook_due(),
            hook_pending: &keys.hook_pending(),
            hook_deliveries: &keys.hook_deliveries(),
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
                        self.end_hook(id).await?;
                    }
                }
            }
        }
        Ok(claimed)
    }

    /// Forgets delivery `id`: delivered, or given up.
    pub async fn end_hook(&self, id: u64) -> Result<(), QueueError> {
        let keys = self.keys();
        HooksEnd {
            hook_due: &keys.hook_due(),
            hook_pending: &keys.hook_pending(),
            hook_deliveries: &keys.hook_deliveries(),
            id,
        }
        .invoke(&mut self.connection())
        .await?;
        Ok(())
    }

    /// Schedules delivery `id` again after `delay`.
    pub async fn retry_hook(
        &self,
        id: u64,
        delay: Duration,
        reason: &str,
    ) -> Result<(), QueueError> {
        let keys = self.keys();
        HooksRetry {
            hook_due: &keys.hook_due(),
            hook_deliveries: &keys.hook_deliveries(),
            id,
            due_ms: now_ms() + delay.as_millis() as u64,
            reason,
        }
        .invoke(&mut self.connection())
        .await?;
        Ok(())
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
