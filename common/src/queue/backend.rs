//! The apalis backend that feeds workers from the Redis job stream.
//!
//! Each worker reads the stream through the consumer group with a blocking
//! `XREADGROUP`, so an idle worker starts a new job within a round trip of
//! its enqueueing rather than on a polling tick. A job stays pending in the
//! group until the worker completes or fails it; a heartbeat keeps the jobs
//! of a live worker fresh, and any worker claims (`XAUTOCLAIM`) the jobs of a
//! worker that went silent for longer than the orphan window. A Redis outage
//! never ends the stream: the worker backs off and carries on when Redis
//! returns.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::backend::finalize::Ephemeral;
use apalis_core::backend::{Backend, BackendConfig};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::TaskId;
use apalis_core::worker::context::WorkerContext;
use futures::FutureExt;
use futures::future::BoxFuture;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamPendingCountReply,
    StreamReadOptions, StreamReadReply,
};
use tower::layer::util::Identity;

use super::connect::{COMMAND_TIMEOUT, connect};
use super::keys::CONSUMER_GROUP;
use super::{JobQueue, QueueError};
use crate::{Job, JobFailure, ObjectKey};

static HAND_BACK: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("hand_back.lua")));

/// The longest pause between attempts to reach Redis while it is down.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The pause before the next read after `failures` failed ones in a row.
fn backoff(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => (Duration::from_millis(100) * 2u32.saturating_pow(n.min(10) - 1)).min(MAX_BACKOFF),
    }
}

/// How a consumer reads the stream.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// How long one blocking read waits for a job before looking for orphans.
    pub block: Duration,
    /// How long a job may go without a heartbeat before another worker
    /// takes it over.
    pub orphan_after: Duration,
}

/// One named reader of the job stream, shared by its backend and the jobs it
/// delivered.
pub struct Consumer {
    name: String,
    queue: JobQueue,
    blocking: ConnectionManager,
    settings: ConsumerSettings,
    in_flight: Mutex<HashSet<String>>,
}

impl Consumer {
    /// A consumer called `name`, which must be unique among live workers.
    pub async fn new(
        client: &redis::Client,
        queue: JobQueue,
        name: String,
        settings: ConsumerSettings,
    ) -> Result<Arc<Self>, QueueError> {
        let blocking = connect(client, settings.block + COMMAND_TIMEOUT).await?;
        queue.ensure_group().await?;
        let consumer = Arc::new(Self {
            name,
            queue,
            blocking,
            settings,
            in_flight: Mutex::new(HashSet::new()),
        });
        tokio::spawn(heartbeat(Arc::downgrade(&consumer)));
        Ok(consumer)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One attempt at the next job, after `delay` when the last attempt
    /// failed (Redis down, or the stream lost with a Redis restart).
    async fn attempt(self: Arc<Self>, delay: Duration) -> Result<Option<Delivery>, QueueError> {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
            self.queue.ensure_group().await?;
        }
        self.try_next().await
    }

    /// One look for an orphaned job, then one blocking read for a new one.
    async fn try_next(self: &Arc<Self>) -> Result<Option<Delivery>, QueueError> {
        let stream = self.queue.keys().stream();
        let mut conn = self.blocking.clone();
        let orphans: StreamAutoClaimReply = conn
            .xautoclaim_options(
                &stream,
                CONSUMER_GROUP,
                &self.name,
                self.settings.orphan_after.as_millis() as u64,
                "0-0",
                StreamAutoClaimOptions::default().count(1),
            )
            .await?;
        if let Some(entry) = orphans.claimed.into_iter().next() {
            tracing::info!(consumer = %self.name, entry = %entry.id, "took over a job whose worker went silent");
            return self.deliver(entry).await;
        }
        let options = StreamReadOptions::default()
            .group(CONSUMER_GROUP, &self.name)
            .count(1)
            .block(self.settings.block.as_millis() as usize);
        let reply: Option<StreamReadReply> =
            conn.xread_options(&[&stream], &[">"], &options).await?;
        let entry = reply
            .and_then(|r| r.keys.into_iter().next())
            .and_then(|k| k.ids.into_iter().next());
        match entry {
            Some(entry) => self.deliver(entry).await,
            None => Ok(None),
        }
    }

    /// Turns a stream entry into a delivery; an unreadable entry is dropped
    /// from the stream with an error in the log, since no worker could run it.
    async fn deliver(self: &Arc<Self>, entry: StreamId) -> Result<Option<Delivery>, QueueError> {
        let job = entry
            .get::<String>("job")
            .and_then(|json| serde_json::from_str::<Job>(&json).ok());
        let stamp = entry.get::<u64>("stamp");
        let (Some(job), Some(stamp)) = (job, stamp) else {
            tracing::error!(entry = %entry.id, "dropping an unreadable job entry");
            let mut conn = self.queue.connection();
            let _: () = redis::pipe()
                .xack(self.queue.keys().stream(), CONSUMER_GROUP, &[&entry.id])
                .ignore()
                .xdel(self.queue.keys().stream(), &[&entry.id])
                .ignore()
                .query_async(&mut conn)
                .await?;
            return Ok(None);
        };
        self.lock_in_flight().insert(entry.id.clone());
        Ok(Some(Delivery {
            job,
            stamp,
            entry: entry.id,
            consumer: Arc::clone(self),
        }))
    }

    /// Puts back every job this consumer holds but is not running.
    async fn hand_back(&self) -> Result<u64, QueueError> {
        let stream = self.queue.keys().stream();
        let mut conn = self.queue.connection();
        let pending: StreamPendingCountReply = conn
            .xpending_consumer_count(&stream, CONSUMER_GROUP, "-", "+", 1000, &self.name)
            .await?;
        let running = self.lock_in_flight().clone();
        let idle: Vec<String> = pending
            .ids
            .into_iter()
            .map(|p| p.id)
            .filter(|id| !running.contains(id))
            .collect();
        if idle.is_empty() {
            return Ok(0);
        }
        let moved: u64 = HAND_BACK
            .key(&stream)
            .arg(CONSUMER_GROUP)
            .arg(&idle)
            .invoke_async(&mut conn)
            .await?;
        Ok(moved)
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // A panic while the lock is held leaves a plain set of ids behind,
        // which stays valid: recover it rather than propagate the poison.
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keeps the jobs of a live consumer from looking orphaned, for as long as
/// the consumer exists.
async fn heartbeat(consumer: Weak<Consumer>) {
    let period = match consumer.upgrade() {
        Some(c) => c.settings.orphan_after / 4,
        None => return,
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(consumer) = consumer.upgrade() else {
            return;
        };
        let ids: Vec<String> = consumer.lock_in_flight().iter().cloned().collect();
        if ids.is_empty() {
            continue;
        }
        let mut conn = consumer.queue.connection();
        let refreshed: Result<redis::Value, _> = redis::cmd("XCLAIM")
            .arg(consumer.queue.keys().stream())
            .arg(CONSUMER_GROUP)
            .arg(&consumer.name)
            .arg(0)
            .arg(&ids)
            .arg("JUSTID")
            .query_async(&mut conn)
            .await;
        if let Err(e) = refreshed {
            tracing::warn!(consumer = %consumer.name, error = %e, "job heartbeat failed");
        }
    }
}

/// A job handed to a worker, with what it takes to report its outcome.
pub struct Delivery {
    pub job: Job,
    /// The acceptance stamp; also the time part of the avatar's key.
    pub stamp: u64,
    entry: String,
    consumer: Arc<Consumer>,
}

impl Delivery {
    /// The queue the job came from.
    pub fn queue(&self) -> &JobQueue {
        &self.consumer.queue
    }

    /// Records the job as completed with its avatar at `key`; returns
    /// whether it became the user's current avatar. The avatar no longer
    /// current is deleted after `retention`.
    pub async fn complete(&self, key: &ObjectKey, retention: Duration) -> Result<bool, QueueError> {
        self.consumer
            .queue
            .complete(&self.job, &self.entry, self.stamp, key, retention)
            .await
    }

    /// Takes the job off the stream to run again after `delay`.
    pub async fn retry_later(&self, delay: Duration, reason: &str) -> Result<(), QueueError> {
        self.consumer
            .queue
            .retry_later(&self.job.id, &self.entry, delay, reason)
            .await
    }

    /// Records the job as failed.
    pub async fn fail(&self, failure: &JobFailure) -> Result<(), QueueError> {
        self.consumer
            .queue
            .fail(&self.job.id, &self.entry, failure)
            .await
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        // Whatever the outcome, this worker no longer runs the job: an
        // unacknowledged entry is left to the orphan scan.
        self.consumer.lock_in_flight().remove(&self.entry);
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("job", &self.job)
            .field("stamp", &self.stamp)
            .field("entry", &self.entry)
            .finish()
    }
}

/// The apalis backend over one [`Consumer`].
pub struct StreamBackend {
    consumer: Arc<Consumer>,
    fetch: Option<BoxFuture<'static, Result<Option<Delivery>, QueueError>>>,
    failures: u32,
    closing: Option<BoxFuture<'static, Result<u64, QueueError>>>,
}

impl StreamBackend {
    pub fn new(consumer: Arc<Consumer>) -> Self {
        Self {
            consumer,
            fetch: None,
            failures: 0,
            closing: None,
        }
    }
}

impl Backend for StreamBackend {
    type Task = Task<Delivery>;
    type Error = QueueError;

    fn poll_ready(
        &mut self,
        _cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        loop {
            let consumer = Arc::clone(&self.consumer);
            let delay = backoff(self.failures);
            let fetch = self
                .fetch
                .get_or_insert_with(|| consumer.attempt(delay).boxed());
            let outcome = match Pin::new(fetch).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(outcome) => outcome,
            };
            self.fetch = None;
            match outcome {
                Ok(Some(delivery)) => {
                    self.failures = 0;
                    let id = TaskId::from(delivery.job.id.to_string());
                    return Poll::Ready(Some(Ok(TaskBuilder::new(delivery).task_id(id).build())));
                }
                Ok(None) => self.failures = 0,
                Err(e) => {
                    self.failures = self.failures.saturating_add(1);
                    tracing::warn!(consumer = %self.consumer.name, error = %e, retry_in = ?backoff(self.failures), "cannot read the job stream");
                }
            }
        }
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        // A read in flight may yet take a job from the stream: let it end
        // (within one block period), then hand back what it took.
        if let Some(fetch) = self.fetch.as_mut() {
            if Pin::new(fetch).poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.fetch = None;
        }
        let consumer = Arc::clone(&self.consumer);
        let closing = self
            .closing
            .get_or_insert_with(|| async move { consumer.hand_back().await }.boxed());
        match Pin::new(closing).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(moved)) => {
                if moved > 0 {
                    tracing::info!(consumer = %self.consumer.name, moved, "handed back jobs not started");
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                tracing::warn!(consumer = %self.consumer.name, error = %e, "could not hand back jobs; they will be taken over after the orphan window");
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl BackendConfig for StreamBackend {
    type Args = Delivery;
    type Id = TaskId;
    type Kind = Ephemeral;
    type Config = ConsumerSettings;
    type Layer = Identity;

    fn config(&self) -> &Self::Config {
        &self.consumer.settings
    }

    fn middleware(&mut self, _worker: &mut WorkerContext) -> Self::Layer {
        Identity::new()
    }
}
