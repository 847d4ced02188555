//! Prometheus metrics: the recorder both binaries install, and the names
//! and helpers of what they record. The API serves them on `/metrics`; a
//! stand-alone worker on `AVATARS_METRICS_LISTEN`.

use std::net::SocketAddr;
use std::time::Duration;

pub use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

/// Jobs that ended, by `outcome` (completed, failed, retried) and, for
/// failures, `code`.
pub const JOBS: &str = "avatar_jobs_total";
/// Seconds from a job's acceptance to a worker starting it, by `lane`.
pub const JOB_WAIT: &str = "avatar_job_wait_seconds";
/// Seconds a worker spent on one attempt at a job.
pub const JOB_DURATION: &str = "avatar_job_duration_seconds";
/// Jobs in a lane's stream, waiting or running, by `lane`.
pub const QUEUE_DEPTH: &str = "avatar_queue_depth";
/// Seconds the oldest job of a lane's stream (waiting or running) has been
/// there, by `lane`; 0 when it is empty.
pub const QUEUE_OLDEST: &str = "avatar_queue_oldest_seconds";
/// Jobs waiting for a retry.
pub const RETRY_DEPTH: &str = "avatar_retry_queue_depth";
/// HTTP requests by `route`, `method` and `status`.
pub const REQUESTS: &str = "avatar_http_requests_total";
/// Seconds to answer an HTTP request, by `route` and `method`.
pub const REQUEST_DURATION: &str = "avatar_http_request_duration_seconds";

/// Seconds each stage of a job took, by `stage`: `fetch` (a URL source,
/// its host's permit included), `read` (a staged upload), `decode`,
/// `resize` (turning upright and converting colours included), `encode`,
/// `store`.
pub const JOB_STAGE: &str = "avatar_job_stage_seconds";
/// The conversion slots of a worker process.
pub const JOB_SLOTS: &str = "avatar_job_slots";
/// The conversion slots converting now.
pub const JOB_SLOTS_BUSY: &str = "avatar_job_slots_busy";
/// 1 when the process's last use of Redis worked (a worker's read of the
/// job streams; the API's reading of the queue gauges), 0 when it failed.
pub const REDIS_UP: &str = "avatar_redis_up";

/// Converter processes replaced, by `reason`: `timed_out`, `out_of_memory`,
/// `crashed` (each failing its job), `recycled` (grown past its mark).
pub const CONVERTER_RESTARTS: &str = "avatar_converter_restarts_total";

/// Webhook delivery attempts by event `type` and `outcome` (delivered,
/// retried, given_up).
pub const WEBHOOK_DELIVERIES: &str = "avatar_webhook_deliveries_total";
/// Webhook deliveries not yet delivered or given up.
pub const WEBHOOK_PENDING: &str = "avatar_webhook_pending";
/// Seconds since the oldest pending webhook delivery's event; 0 when none.
pub const WEBHOOK_OLDEST: &str = "avatar_webhook_oldest_pending_seconds";

/// Histogram buckets, in seconds: sub-millisecond pick-ups to long waits.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

fn builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
}

/// Installs the global recorder and returns the handle that renders it.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    builder()?.install_recorder()
}

/// Installs the global recorder, served on `address` at `/metrics`. Must
/// be called within a Tokio runtime.
pub fn serve(address: SocketAddr) -> Result<(), BuildError> {
    builder()?.with_http_listener(address).install()
}

/// Records one attempt at a job that ended with `outcome`.
pub fn job_ended(outcome: &'static str, code: Option<&'static str>, took: Duration) {
    metrics::counter!(JOBS, "outcome" => outcome, "code" => code.unwrap_or("")).increment(1);
    metrics::histogram!(JOB_DURATION, "outcome" => outcome).record(took.as_secs_f64());
}

/// Records how long one stage of a job took (see [`JOB_STAGE`]).
pub fn stage(stage: &'static str, took: Duration) {
    metrics::histogram!(JOB_STAGE, "stage" => stage).record(took.as_secs_f64());
}

/// Counts `count` more conversion slots in this process.
pub fn slots_added(count: usize) {
    metrics::gauge!(JOB_SLOTS).increment(count as f64);
}

/// Counts a conversion slot taken (`true`) or given back.
pub fn slot_busy(taken: bool) {
    metrics::gauge!(JOB_SLOTS_BUSY).increment(if taken { 1.0 } else { -1.0 });
}

/// Records whether the last use of Redis worked.
pub fn redis_up(up: bool) {
    metrics::gauge!(REDIS_UP).set(if up { 1.0 } else { 0.0 });
}

/// Records one webhook delivery attempt.
pub fn webhook_attempt(event: &'static str, outcome: &'static str) {
    metrics::counter!(WEBHOOK_DELIVERIES, "type" => event, "outcome" => outcome).increment(1);
}

/// Sets the webhook gauges from Redis.
pub async fn report_webhooks(queue: &crate::queue::JobQueue) {
    match queue.hooks_pending().await {
        Ok(pending) => {
            metrics::gauge!(WEBHOOK_PENDING).set(pending.count as f64);
            metrics::gauge!(WEBHOOK_OLDEST)
                .set(pending.oldest.map_or(0.0, |age| age.as_secs_f64()));
        }
        Err(e) => tracing::debug!(error = %e, "cannot read the webhook deliveries for the metrics"),
    }
}

/// Records how long a job of `lane` waited for a worker.
pub fn job_waited(lane: crate::jobs::Lane, waited: Duration) {
    metrics::histogram!(JOB_WAIT, "lane" => lane.as_str()).record(waited.as_secs_f64());
}

/// Sets the queue gauges from Redis, per lane: depth and the age of the
/// oldest entry; a value Redis cannot give now keeps its last one.
pub async fn report_queue_depths(queue: &crate::queue::JobQueue) {
    for lane in crate::jobs::Lane::ALL {
        let depth = queue.depth(lane).await;
        redis_up(depth.is_ok());
        if let Ok(depth) = depth {
            metrics::gauge!(QUEUE_DEPTH, "lane" => lane.as_str()).set(depth as f64);
        }
        if let Ok(oldest) = queue.oldest_waiting(lane).await {
            let age = oldest.map_or(0.0, |age| age.as_secs_f64());
            metrics::gauge!(QUEUE_OLDEST, "lane" => lane.as_str()).set(age);
        }
    }
    if let Ok(depth) = queue.retry_depth().await {
        metrics::gauge!(RETRY_DEPTH).set(depth as f64);
    }
}
