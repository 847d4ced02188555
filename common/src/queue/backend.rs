//! The apalis backend that feeds workers from the Redis job streams, one
//! per [`Lane`], and records each job's outcome through apalis's
//! acknowledgement layer.
//!
//! Each worker reads the streams through the consumer group with one
//! blocking `XREADGROUP` on both, which answers at once when either has a
//! job (an interactive one is taken first) and otherwise as soon as one
//! arrives, so an idle worker starts a new job within a round trip of its
//! enqueueing rather than on a polling tick, and one read is all a job
//! costs. A job stays pending in the group until the worker completes or
//! fails it; a heartbeat keeps the jobs of a live worker fresh, and every
//! half orphan window a worker claims (`XAUTOCLAIM`) the jobs of a worker
//! that went silent for longer than the orphan window. A Redis outage
//! never ends the stream: the worker backs off and carries on when Redis
//! returns.
//!
//! apalis does what it is meant for: it limits the worker's concurrency
//! (backpressure stops this backend being polled while every slot is
//! busy), runs the handler, passes its
//! [`Transition`](crate::jobs::Transition) to the [`Recorder`] (this
//! backend's middleware, an [`AcknowledgeLayer`]), and on shutdown
//! stops polling, waits for the running jobs and calls `poll_close`. Two
//! things apalis 1.0 cannot express stay here:
//!
//! - the heartbeat and the takeover of orphans: apalis's own heartbeat is a
//!   worker-level event, not a refresh of each held task's claim, and its
//!   Redis backend has no consumer-group claim to refresh;
//! - the hand-back on shutdown of entries read but not begun: `poll_close`
//!   is the one hook, so it runs the hand-back script there.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use apalis_core::backend::finalize::Ephemeral;
use apalis_core::backend::{Backend, BackendConfig};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::TaskId;
use apalis_core::worker::context::WorkerContext;
use apalis_core::worker::ext::ack::AcknowledgeLayer;
use futures::FutureExt;
use futures::future::BoxFuture;
use redis::AsyncCommands;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamPendingCountReply,
    StreamReadOptions, StreamReadReply,
};

use super::connect::COMMAND_TIMEOUT;
use super::keys::CONSUMER_GROUP;
use super::recorder::Recorder;
use super::{Connection, JobQueue, QueueError, Redis, Start};
use crate::backoff::RECONNECT;
use crate::jobs::record::entry_field;
use crate::jobs::scripts::HandBack;
use crate::jobs::{Lane, Started};
use crate::{Job, metrics};

/// The pause before the next read after `failures` failed ones in a row.
fn read_pause(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => RECONNECT.delay(n - 1),
    }
}

/// The longest blocking read while the bulk lane is closed to a consumer.
const CLOSED_LANE_BLOCK: Duration = Duration::from_millis(100);

/// How a consumer reads the stream.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// How long one blocking read waits for a job before looking for orphans.
    pub block: Duration,
    /// How long a job may go without a heartbeat before another worker
    /// takes it over.
    pub orphan_after: Duration,
    /// Most bulk jobs this consumer holds at once: fewer than the worker's
    /// job slots, so that one is always left for interactive work.
    pub max_bulk: usize,
}

/// One named reader of the job stream, shared by its backend and the jobs it
/// claimed.
pub struct Consumer {
    name: String,
    queue: JobQueue,
    blocking: Connection,
    settings: ConsumerSettings,
    /// The entries this consumer runs, by lane.
    in_flight: Mutex<HashSet<(Lane, String)>>,
    /// When this consumer last looked for orphaned jobs.
    last_scan: Mutex<Option<Instant>>,
}

impl Consumer {
    /// A consumer called `name`, which must be unique among live workers.
    pub async fn new(
        redis: &Redis,
        queue: JobQueue,
        name: String,
        settings: ConsumerSettings,
    ) -> Result<Arc<Self>, QueueError> {
        let blocking = redis.connect(settings.block + COMMAND_TIMEOUT).await?;
        queue.ensure_group().await?;
        let consumer = Arc::new(Self {
            name,
            queue,
            blocking,
            settings,
            in_flight: Mutex::new(HashSet::new()),
            last_scan: Mutex::new(None),
        });
        tokio::spawn(heartbeat(Arc::downgrade(&consumer)));
        Ok(consumer)
    }

    /// One attempt at the next job, after `delay` when the last attempt
    /// failed (Redis down, or the stream lost with a Redis restart).
    async fn attempt(self: Arc<Self>, delay: Duration) -> Result<Option<Claim>, QueueError> {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
            self.queue.ensure_group().await?;
        }
        self.try_next().await
    }

    /// The lanes this consumer reads now: interactive always, bulk while
    /// it holds fewer bulk jobs than its cap.
    fn open_lanes(&self) -> &'static [Lane] {
        let bulk = self
            .lock_in_flight()
            .iter()
            .filter(|(lane, _)| *lane == Lane::Bulk)
            .count();
        if bulk < self.settings.max_bulk {
            &Lane::ALL
        } else {
            &[Lane::Interactive]
        }
    }

    /// The next job, interactive work first: a look for orphaned jobs in
    /// each open lane when one is due (every half orphan window), then
    /// one blocking read of them all, which answers at once when any has
    /// a job. With the bulk lane closed, the blocking read is short, so
    /// that a bulk job is read soon after one ends.
    async fn try_next(self: &Arc<Self>) -> Result<Option<Claim>, QueueError> {
        let mut conn = self.blocking.clone();
        let lanes = self.open_lanes();
        if self.orphan_scan_due() {
            for &lane in lanes {
                let orphans: StreamAutoClaimReply = conn
                    .xautoclaim_options(
                        self.queue.keys().stream(lane),
                        CONSUMER_GROUP,
                        &self.name,
                        self.settings.orphan_after.as_millis() as u64,
                        "0-0",
                        StreamAutoClaimOptions::default().count(1),
                    )
                    .await?;
                if let Some(entry) = orphans.claimed.into_iter().next() {
                    tracing::info!(consumer = %self.name, entry = %entry.id, %lane, "took over a job whose worker went silent");
                    // Another may be waiting: look again at the next read.
                    self.lock_scan().take();
                    return self.deliver(lane, entry).await;
                }
            }
        }
        let waiting = StreamReadOptions::default()
            .group(CONSUMER_GROUP, &self.name)
            .count(1);
        let block = match lanes.len() {
            n if n == Lane::ALL.len() => self.settings.block,
            _ => self.settings.block.min(CLOSED_LANE_BLOCK),
        };
        let blocking = waiting.block(block.as_millis() as usize);
        let streams: Vec<String> = lanes
            .iter()
            .map(|&lane| self.queue.keys().stream(lane))
            .collect();
        let ids = vec![">"; streams.len()];
        let reply: Option<StreamReadReply> = conn.xread_options(&streams, &ids, &blocking).await?;
        // Both lanes can answer one read; the first is taken, in lane
        // order, and the others go back to the end of their streams.
        let mut taken = None;
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            let Some(lane) = Lane::ALL
                .into_iter()
                .find(|&lane| self.queue.keys().stream(lane) == key.key)
            else {
                continue;
            };
            for entry in key.ids {
                match taken {
                    None => taken = Some((lane, entry)),
                    Some(_) => {
                        self.give_back(lane, &[entry.id]).await?;
                    }
                }
            }
        }
        match taken {
            Some((lane, entry)) => self.deliver(lane, entry).await,
            None => Ok(None),
        }
    }

    /// Turns an entry of `lane`'s stream into a claim and starts its job;
    /// an unreadable entry is dropped from the stream with an error in the
    /// log, since no worker could run it.
    async fn deliver(
        self: &Arc<Self>,
        lane: Lane,
        entry: StreamId,
    ) -> Result<Option<Claim>, QueueError> {
        let stream = self.queue.keys().stream(lane);
        let job = entry
            .get::<String>(entry_field::JOB)
            .and_then(|json| serde_json::from_str::<Job>(&json).ok());
        let stamp = entry.get::<u64>(entry_field::STAMP);
        let (Some(mut job), Some(stamp)) = (job, stamp) else {
            tracing::error!(entry = %entry.id, %lane, "dropping an unreadable job entry");
            let mut conn = self.queue.connection();
            let _: () = redis::pipe()
                .xack(&stream, CONSUMER_GROUP, &[&entry.id])
                .ignore()
                .xdel(&stream, &[&entry.id])
                .ignore()
                .query_async(&mut conn)
                .await?;
            return Ok(None);
        };
        // The stream it came from is where its outcome is acknowledged.
        job.lane = lane;
        self.lock_in_flight().insert((lane, entry.id.clone()));
        // Held from here: if starting fails, dropping it leaves the entry to
        // the orphan scan.
        let held = Arc::new(Held {
            lane,
            entry: entry.id,
            consumer: Arc::clone(self),
        });
        let started = match self.queue.start(&job, stamp, &held.entry).await? {
            Start::Began(started) => started,
            Start::Parked => {
                tracing::debug!(job_id = %job.id, user_id = %job.user, "parked: the user runs as many jobs as the fair share allows");
                return Ok(None);
            }
            Start::Cancelled => {
                tracing::debug!(job_id = %job.id, user_id = %job.user, "cancelled with its import");
                return Ok(None);
            }
            Start::Skipped => {
                tracing::debug!(job_id = %job.id, user_id = %job.user, "skipped: the user has an avatar and the import fills only missing ones");
                return Ok(None);
            }
            Start::Ended => {
                tracing::info!(job_id = %job.id, user_id = %job.user, "dropped a stale entry of a job that had ended");
                return Ok(None);
            }
        };
        if started.attempts == 1 {
            metrics::job_waited(lane, started.waited);
        }
        let request_id = job.request_id.as_ref().map(crate::RequestId::as_str);
        let span =
            tracing::info_span!("job", job_id = %job.id, user_id = %job.user, %lane, request_id);
        Ok(Some(Claim {
            job,
            stamp,
            started,
            began: Instant::now(),
            span,
            held,
        }))
    }

    /// Puts `entries` of `lane`'s stream, which this consumer read but will
    /// not run, back at the end of the stream; returns how many.
    async fn give_back(&self, lane: Lane, entries: &[String]) -> Result<u64, QueueError> {
        if entries.is_empty() {
            return Ok(0);
        }
        Ok(HandBack {
            stream: &self.queue.keys().stream(lane),
            group: CONSUMER_GROUP,
            entries,
        }
        .invoke(&mut self.queue.connection())
        .await?)
    }

    /// Puts back every job this consumer holds but is not running.
    async fn hand_back(&self) -> Result<u64, QueueError> {
        let mut conn = self.queue.connection();
        let running = self.lock_in_flight().clone();
        let mut moved = 0;
        for lane in Lane::ALL {
            let pending: StreamPendingCountReply = conn
                .xpending_consumer_count(
                    self.queue.keys().stream(lane),
                    CONSUMER_GROUP,
                    "-",
                    "+",
                    1000,
                    &self.name,
                )
                .await?;
            let idle: Vec<String> = pending
                .ids
                .into_iter()
                .map(|p| p.id)
                .filter(|id| !running.contains(&(lane, id.clone())))
                .collect();
            moved += self.give_back(lane, &idle).await?;
        }
        Ok(moved)
    }

    /// Whether a look for orphaned jobs is due, counting it as made when
    /// it is: the first read looks, then one every half orphan window.
    fn orphan_scan_due(&self) -> bool {
        let mut last = self.lock_scan();
        let due = last.is_none_or(|at| at.elapsed() >= self.settings.orphan_after / 2);
        if due {
            *last = Some(Instant::now());
        }
        due
    }

    fn lock_scan(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.last_scan.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<(Lane, String)>> {
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
        let held: Vec<(Lane, String)> = consumer.lock_in_flight().iter().cloned().collect();
        let mut conn = consumer.queue.connection();
        for lane in Lane::ALL {
            let ids: Vec<&String> = held
                .iter()
                .filter(|(held_lane, _)| *held_lane == lane)
                .map(|(_, id)| id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let refreshed: Result<redis::Value, _> = redis::cmd("XCLAIM")
                .arg(consumer.queue.keys().stream(lane))
                .arg(CONSUMER_GROUP)
                .arg(&consumer.name)
                .arg(0)
                .arg(&ids)
                .arg("JUSTID")
                .query_async(&mut conn)
                .await;
            if let Err(e) = refreshed {
                tracing::warn!(consumer = %consumer.name, error = %e, %lane, "job heartbeat failed");
            }
        }
    }
}

/// A job this worker holds: carried in the task's context, where the
/// handler reads it as `Data<Claim>` and the [`Recorder`] finds it to record
/// the outcome.
#[derive(Clone)]
pub struct Claim {
    pub job: Job,
    /// The acceptance stamp; also the time part of the avatar's key.
    pub stamp: u64,
    /// What the record said when this attempt began.
    pub started: Started,
    /// When this attempt began.
    pub began: Instant,
    /// The job's span, for the handler and the recording alike.
    pub span: tracing::Span,
    held: Arc<Held>,
}

impl Claim {
    /// The stream entry.
    pub(crate) fn entry(&self) -> &str {
        &self.held.entry
    }
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("job", &self.job)
            .field("stamp", &self.stamp)
            .field("entry", &self.held.entry)
            .finish()
    }
}

/// A pending entry this worker runs; the heartbeat keeps it fresh until
/// the last copy of its claim is gone.
struct Held {
    lane: Lane,
    entry: String,
    consumer: Arc<Consumer>,
}

impl Drop for Held {
    fn drop(&mut self) {
        // Whatever the outcome, this worker no longer runs the job: an
        // unacknowledged entry is left to the orphan scan.
        let key = (self.lane, std::mem::take(&mut self.entry));
        self.consumer.lock_in_flight().remove(&key);
    }
}

/// The apalis backend over one [`Consumer`].
pub struct StreamBackend {
    consumer: Arc<Consumer>,
    recorder: Recorder,
    fetch: Option<BoxFuture<'static, Result<Option<Claim>, QueueError>>>,
    failures: u32,
    closing: Option<BoxFuture<'static, Result<u64, QueueError>>>,
}

impl StreamBackend {
    /// A backend reading through `consumer`, whose jobs' outcomes
    /// `recorder` records.
    pub fn new(consumer: Arc<Consumer>, recorder: Recorder) -> Self {
        Self {
            consumer,
            recorder,
            fetch: None,
            failures: 0,
            closing: None,
        }
    }
}

impl Backend for StreamBackend {
    type Task = Task<Job>;
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
            let delay = read_pause(self.failures);
            let fetch = self
                .fetch
                .get_or_insert_with(|| consumer.attempt(delay).boxed());
            let outcome = match Pin::new(fetch).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(outcome) => outcome,
            };
            self.fetch = None;
            metrics::redis_up(outcome.is_ok());
            match outcome {
                Ok(Some(claim)) => {
                    self.failures = 0;
                    let id = TaskId::from(claim.job.id.to_string());
                    let task = TaskBuilder::new(claim.job.clone())
                        .task_id(id)
                        .data(claim)
                        .build();
                    return Poll::Ready(Some(Ok(task)));
                }
                Ok(None) => self.failures = 0,
                Err(e) => {
                    self.failures = self.failures.saturating_add(1);
                    tracing::warn!(consumer = %self.consumer.name, error = %e, retry_in = ?read_pause(self.failures), "cannot read the job stream");
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
    type Args = Job;
    type Id = TaskId;
    type Kind = Ephemeral;
    type Config = ConsumerSettings;
    type Layer = AcknowledgeLayer<Recorder>;

    fn config(&self) -> &Self::Config {
        &self.consumer.settings
    }

    /// Every task's result goes to the recorder.
    fn middleware(&mut self, _worker: &mut WorkerContext) -> Self::Layer {
        AcknowledgeLayer::new(self.recorder.clone())
    }
}
