//! `Completions`: lets many requests wait for their jobs to end on one
//! Redis subscription per process, instead of each polling Redis.
//!
//! A waiter registers before it reads the job's record, so an announcement
//! cannot slip between the read and the wait. When the subscription is
//! re-established after an outage every waiter is woken to read its record
//! again, since announcements may have been missed meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{JobQueue, QueueError};
use crate::backoff::RECONNECT;
use crate::{JobId, JobRecord};

type Waiters = HashMap<JobId, Vec<oneshot::Sender<()>>>;

/// The registry of requests waiting for jobs to end.
#[derive(Clone)]
pub struct Completions {
    waiters: Arc<Mutex<Waiters>>,
}

impl Completions {
    /// Subscribes to the queue's announcements, for as long as the process
    /// runs; the subscription is renewed whenever it drops.
    pub fn start(client: redis::Client, queue: &JobQueue) -> Self {
        let completions = Self {
            waiters: Arc::default(),
        };
        let channel = queue.keys().finished_channel();
        tokio::spawn(completions.clone().listen(client, channel));
        completions
    }

    /// Waits until job `id` has ended or `deadline` has passed, and returns
    /// its record as it then is.
    pub async fn wait(
        &self,
        queue: &JobQueue,
        id: &JobId,
        deadline: Instant,
    ) -> Result<Option<JobRecord>, QueueError> {
        loop {
            let (tx, rx) = oneshot::channel();
            self.lock().entry(*id).or_default().push(tx);
            let record = queue.record(id).await;
            let done = !matches!(&record, Ok(Some(r)) if !r.status.is_final());
            if done || Instant::now() >= deadline {
                self.forget(id);
                return record;
            }
            if tokio::time::timeout_at(deadline, rx).await.is_err() {
                self.forget(id);
                return queue.record(id).await;
            }
        }
    }

    /// Drops the closed senders of `id`'s waiters.
    fn forget(&self, id: &JobId) {
        let mut waiters = self.lock();
        if let Some(senders) = waiters.get_mut(id) {
            senders.retain(|tx| !tx.is_closed());
            if senders.is_empty() {
                waiters.remove(id);
            }
        }
    }

    fn wake(&self, id: &JobId) {
        if let Some(senders) = self.lock().remove(id) {
            for tx in senders {
                let _ = tx.send(());
            }
        }
    }

    fn wake_all(&self) {
        let all = std::mem::take(&mut *self.lock());
        for tx in all.into_values().flatten() {
            let _ = tx.send(());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        // The map holds only senders; a panic elsewhere cannot leave it in a
        // state that is wrong to keep using.
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn listen(self, client: redis::Client, channel: String) {
        let mut failures = 0;
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                    Ok(()) => {
                        failures = 0;
                        self.wake_all();
                        let mut messages = pubsub.on_message();
                        while let Some(message) = messages.next().await {
                            let id = message
                                .get_payload::<String>()
                                .ok()
                                .and_then(|p| p.parse::<JobId>().ok());
                            if let Some(id) = id {
                                self.wake(&id);
                            }
                        }
                        tracing::warn!("job announcements subscription dropped; renewing");
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot subscribe to job announcements"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot connect for job announcements"),
            }
            self.wake_all();
            tokio::time::sleep(RECONNECT.delay(failures)).await;
            failures += 1;
        }
    }
}
