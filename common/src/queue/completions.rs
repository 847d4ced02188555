//! `Completions`: lets many requests wait for their jobs to end on one
//! Redis subscription per process, instead of each polling Redis.
//!
//! A waiter registers before it reads the job's record, so an announcement
//! cannot slip between the read and the wait; a request that will wait for
//! the job it is about to enqueue registers before enqueueing it
//! ([`Completions::register`]), and then reads the record only once it is
//! announced. When the subscription is
//! re-established after an outage every waiter is woken to read its record
//! again, since announcements may have been missed meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Heard, JobQueue, QueueError, Redis};
use crate::{JobId, JobRecord};

type Waiters = HashMap<JobId, Vec<oneshot::Sender<()>>>;

/// A waiter registered for a job before it was enqueued.
pub struct Registration {
    id: JobId,
    rx: oneshot::Receiver<()>,
}

/// The registry of requests waiting for jobs to end.
#[derive(Clone)]
pub struct Completions {
    waiters: Arc<Mutex<Waiters>>,
}

impl Completions {
    /// Subscribes to the queue's announcements, for as long as the process
    /// runs; the subscription is renewed whenever it drops.
    pub fn start(redis: Redis, queue: &JobQueue) -> Self {
        let completions = Self {
            waiters: Arc::default(),
        };
        let channel = queue.keys().finished_channel();
        let listening = completions.clone();
        tokio::spawn(async move {
            redis
                .listen(channel, |heard| match heard {
                    Heard::Message(payload) => {
                        if let Ok(id) = payload.parse::<JobId>() {
                            listening.wake(&id);
                        }
                    }
                    Heard::Subscribed | Heard::Lost => listening.wake_all(),
                })
                .await;
        });
        completions
    }

    /// Registers a waiter for job `id`, not enqueued yet: nothing about it
    /// can be announced before this returns.
    pub fn register(&self, id: &JobId) -> Registration {
        let (tx, rx) = oneshot::channel();
        self.lock().entry(*id).or_default().push(tx);
        Registration { id: *id, rx }
    }

    /// Waits, with `registration` made before the job was enqueued, until
    /// the job has ended or `deadline` has passed, and returns its record
    /// as it then is: read once it is announced, or at the deadline.
    pub async fn wait_registered(
        &self,
        queue: &JobQueue,
        registration: Registration,
        deadline: Instant,
    ) -> Result<Option<JobRecord>, QueueError> {
        let Registration { id, rx } = registration;
        if tokio::time::timeout_at(deadline, rx).await.is_err() {
            self.forget(&id);
            return queue.record(&id).await;
        }
        // Announced, or the subscription was made again: the record says.
        self.wait(queue, &id, deadline).await
    }

    /// Gives up `registration`, for a job that will not be waited for.
    pub fn cancel(&self, registration: Registration) {
        let Registration { id, rx } = registration;
        drop(rx);
        self.forget(&id);
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
}
