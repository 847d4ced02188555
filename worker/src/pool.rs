//! The worker pool: an apalis worker that consumes the job stream with
//! bounded concurrency, run under an apalis monitor that stops it
//! gracefully; started by `avatar-worker` and by `avatar-api --workers N`.
//!
//! A pool of N conversion slots holds up to N + `AVATARS_FETCHES_IN_FLIGHT`
//! jobs: apalis's concurrency. A job takes a conversion slot only to
//! convert (see [`crate::slots`]), so the jobs fetching from slow origins
//! leave the cores to those whose bytes have arrived.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use apalis::prelude::*;
use avatar_common::backoff::{Backoff, Jitter};
use avatar_common::jobs::RetryRules;
use avatar_common::queue::{Consumer, ConsumerSettings, JobQueue, Recorder, StreamBackend};
use avatar_common::settings::CropMode;
use avatar_common::storage::Storage;
use tokio_util::sync::CancellationToken;

use crate::cage::Cage;
use crate::fetch::Fetcher;
use crate::host_permits::HostPermits;
use crate::maintenance;
use crate::processor::{Processor, handle};
use crate::settings::Settings;
use crate::slots::ConversionSlots;
use crate::webhooks::DeliveryPool;

/// How long one blocking read of the stream waits before looking for
/// orphaned jobs again; also the longest a stopping worker waits for a read.
const BLOCK: Duration = Duration::from_secs(2);

/// Runs a worker pool until `shutdown` is cancelled; then apalis stops
/// reading, lets running jobs finish within the grace period, and the
/// backend hands back the rest.
pub async fn run_pool(
    settings: &Settings,
    client: &avatar_common::queue::Redis,
    queue: JobQueue,
    storage: Storage,
    concurrency: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let queue = queue.with_fair_share(settings.worker.fair_share());
    // Jobs held at once: those converting and those fetching or waiting.
    let held = concurrency + settings.worker.fetches_in_flight;
    let name = format!("worker-{}", ulid::Ulid::generate());
    let consumer = Consumer::new(
        client,
        queue.clone(),
        name.clone(),
        ConsumerSettings {
            block: BLOCK,
            orphan_after: settings.worker.orphan_after(),
            // One job slot stays open to interactive work, unless there
            // is only one.
            max_bulk: (held - 1).max(1),
        },
    )
    .await
    .context("cannot register the worker with Redis")?;
    let fetcher =
        Fetcher::from_settings(settings).context("cannot build the HTTP client for URL sources")?;
    let worker = &settings.worker;
    let fetch_timeout = Duration::from_secs(worker.fetch_timeout_secs);
    let sides = settings.shared.image.sides();
    let processor = Arc::new(Processor {
        storage: storage.clone(),
        queue: queue.clone(),
        fetcher,
        // A permit outlives its worker's last renewal by the orphan window.
        host_permits: HostPermits::new(
            queue.clone(),
            worker.fetch_per_host_concurrency,
            worker.orphan_after(),
        ),
        fetch_patience: fetch_timeout,
        slots: ConversionSlots::new(concurrency),
        cage: Cage::start(&worker.converter, &settings.shared.log, concurrency)?,
        sides: sides.clone(),
        options: avatar_pipeline::Options {
            size: sides.largest(),
            smaller: sides.smaller().to_vec(),
            quality: settings.shared.image.jpeg_quality,
            max_pixels: settings.shared.image.max_pixels,
            max_decode_bytes: settings.shared.image.max_decode_bytes,
            crop: None,
            placement: placement(settings.shared.image.crop),
        },
        rules: RetryRules {
            max_interrupted: worker.max_attempts,
            budget: Duration::from_secs(worker.retry_budget_secs),
            backoff: Backoff {
                first: Duration::from_millis(worker.retry_base_ms),
                factor: 2,
                max: Duration::from_secs(worker.retry_max_delay_secs),
                jitter: Jitter::Equal,
            },
        },
        time_budget: worker.time_budget(),
        abort_after_store: worker.fault_abort_after_store,
    });
    let recorder = Recorder::new(
        queue.clone(),
        storage.clone(),
        Duration::from_secs(worker.superseded_retention_secs),
    );
    let staging = maintenance::StagingSweep {
        retention: Duration::from_secs(worker.staging_retention_secs),
        interval: Duration::from_secs(worker.sweep_interval_secs),
    };
    let upkeep = tokio::spawn(maintenance::run(
        client.clone(),
        queue.clone(),
        storage.clone(),
        staging,
        worker.fault_abort_mid_delete,
        shutdown.clone(),
    ));
    let deliveries = delivery_pool(settings, &queue, &storage)?
        .map(|pool| tokio::spawn(Arc::new(pool).run(client.clone(), shutdown.clone())));

    let worker_name = name.clone();
    let monitor = Monitor::new()
        .register(move |_restarts| {
            WorkerBuilder::new(worker_name.as_str())
                .backend(StreamBackend::new(consumer.clone(), recorder.clone()))
                .concurrency(held)
                .data(processor.clone())
                .build(handle)
        })
        .with_terminator(grace_period(worker.shutdown_grace()));
    tracing::info!(worker = %name, conversion_slots = concurrency, jobs_held = held, "worker pool started");
    let signal = async move {
        shutdown.cancelled().await;
        Ok(())
    };
    let stopped = monitor.run_with_signal(signal).await;
    upkeep.abort();
    if let Some(deliveries) = deliveries {
        deliveries.abort();
    }
    stopped.context("the worker pool stopped")?;
    tracing::info!(worker = %name, "worker pool stopped");
    Ok(())
}

/// The pipeline's placement for `AVATARS_CROP`.
pub(crate) fn placement(mode: CropMode) -> avatar_pipeline::Placement {
    match mode {
        CropMode::Centre => avatar_pipeline::Placement::Centre,
        CropMode::Attention => avatar_pipeline::Placement::Attention,
        CropMode::Face => avatar_pipeline::Placement::Face,
    }
}

/// The webhook delivery pool, when webhooks can be signed.
fn delivery_pool(
    settings: &Settings,
    queue: &JobQueue,
    storage: &Storage,
) -> anyhow::Result<Option<DeliveryPool>> {
    let outbound = &settings.shared.outbound;
    let Some(signer) = outbound.signer().map_err(anyhow::Error::msg)? else {
        return Ok(None);
    };
    let public_base_url = storage
        .public_base_url(&settings.shared.storage)
        .context("webhooks carry avatar URLs, and with local storage a worker cannot tell them; set AVATARS_PUBLIC_BASE_URL")?;
    let worker = &settings.worker;
    Ok(Some(DeliveryPool {
        queue: queue.clone(),
        signer,
        operator: DeliveryPool::operator_client()?,
        callbacks: Fetcher::from_settings(settings)
            .context("cannot build the HTTP client for webhook callbacks")?,
        public_base_url,
        sides: settings.shared.image.sides(),
        backoff: DeliveryPool::backoff(Duration::from_millis(worker.webhook_retry_base_ms)),
        give_up_after: Duration::from_secs(outbound.webhook_retry_hours * 3600),
        concurrency: worker.webhook_concurrency as usize,
        per_host: worker.webhook_per_host as usize,
        lease: Duration::from_secs(worker.webhook_lease_secs),
    }))
}

/// Ends a shutdown that running jobs have not finished within `grace`;
/// their entries stay pending, so other workers take them over.
async fn grace_period(grace: Duration) {
    tokio::time::sleep(grace).await;
    tracing::warn!(
        ?grace,
        "jobs still running after the grace period; other workers will take them over"
    );
}
