//! `Pool`: the apalis worker that consumes the job stream with bounded
//! concurrency, started by `avatar-worker` and by `avatar-api --workers N`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use apalis::prelude::*;
use avatar_common::queue::{Consumer, ConsumerSettings, Delivery, JobQueue, StreamBackend};
use avatar_common::storage::Storage;
use tokio_util::sync::CancellationToken;

use crate::fetch::Fetcher;
use crate::maintenance;
use crate::processor::{Processor, RetryPolicy};
use crate::settings::Settings;

/// How long one blocking read of the stream waits before looking for
/// orphaned jobs again; also the longest a stopping worker waits for a read.
const BLOCK: Duration = Duration::from_secs(1);

/// Runs a worker pool until `shutdown` is cancelled, then lets running jobs
/// finish within the grace period and hands back the rest.
pub async fn run_pool(
    settings: &Settings,
    client: &redis::Client,
    queue: JobQueue,
    storage: Storage,
    concurrency: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let name = format!("worker-{}", ulid::Ulid::generate());
    let consumer = Consumer::new(
        client,
        queue.clone(),
        name.clone(),
        ConsumerSettings {
            block: BLOCK,
            orphan_after: settings.worker.orphan_after(),
        },
    )
    .await
    .context("cannot register the worker with Redis")?;
    let fetcher =
        Fetcher::from_settings(settings).context("cannot build the HTTP client for URL sources")?;
    let processor = Arc::new(Processor {
        storage: storage.clone(),
        fetcher,
        options: avatar_pipeline::Options {
            size: settings.image.avatar_size,
            quality: settings.image.jpeg_quality,
            max_pixels: settings.image.max_pixels,
        },
        max_attempts: settings.worker.max_attempts,
        retry: RetryPolicy {
            base: Duration::from_millis(settings.worker.retry_base_ms),
            max_delay: Duration::from_secs(settings.worker.retry_max_delay_secs),
            budget: Duration::from_secs(settings.worker.retry_budget_secs),
        },
        retention: Duration::from_secs(settings.worker.superseded_retention_secs),
        convert_timeout: Duration::from_secs(settings.worker.job_timeout_secs),
        cpu: Arc::new(tokio::sync::Semaphore::new(concurrency)),
        abort_after_store: settings.worker.fault_abort_after_store,
    });
    let sweep = maintenance::Sweep {
        retention: Duration::from_secs(settings.worker.staging_retention_secs),
        interval: Duration::from_secs(settings.worker.sweep_interval_secs),
    };
    let upkeep = tokio::spawn(maintenance::run(
        queue.clone(),
        storage.clone(),
        sweep,
        shutdown.clone(),
    ));

    let worker = WorkerBuilder::new(name.as_str())
        .backend(StreamBackend::new(consumer))
        .concurrency(concurrency)
        .data(processor)
        .build(handle);
    tracing::info!(worker = %name, concurrency, "worker pool started");

    let grace = settings.worker.shutdown_grace();
    let stop = shutdown.clone();
    let run = worker.run_until(async move {
        stop.cancelled().await;
        Ok::<(), std::io::Error>(())
    });
    tokio::select! {
        result = run => result.context("the worker pool stopped")?,
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(?grace, "jobs still running after the grace period; other workers will take them over");
        }
    }
    upkeep.abort();
    tracing::info!(worker = %name, "worker pool stopped");
    Ok(())
}

async fn handle(delivery: Delivery, processor: Data<Arc<Processor>>) -> Result<(), BoxDynError> {
    processor.run(delivery).await;
    Ok(())
}
