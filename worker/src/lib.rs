//! The avatar worker: consumes jobs from the Redis stream, fetches or reads
//! each source, converts it with the image pipeline, stores the avatar and
//! publishes the result.
//!
//! # Layout
//! - [`settings`]: flags and `AVATARS_*` variables.
//! - [`pool`]: the apalis worker with bounded concurrency.
//! - [`processor`]: one job from source to published avatar; [`slots`]:
//!   the conversion slots it converts in, interactive work first; [`cage`]:
//!   the converter processes the images are decoded in.
//! - [`fetch`] and [`address`]: URL sources, public addresses only;
//!   [`host_permits`]: at most so many fetches to one host at once.
//! - [`convert`]: the pipeline on local files, for operators and benchmarks.
//! - [`maintenance`]: due retries and the deletion of superseded avatars.
//! - [`webhooks`]: the delivery pool that posts webhook events.

#![forbid(unsafe_code)]

/// The address rules live with the domain types, for the API's checks too.
pub use avatar_common::address;
pub mod cage;
pub mod convert;
pub mod fetch;
pub mod host_permits;
pub mod maintenance;
pub mod pool;
pub mod processor;
pub mod settings;
pub mod slots;
pub mod webhooks;

use anyhow::Context as _;
use avatar_common::queue;
use avatar_common::shutdown::cancel_on_signal;
use avatar_common::storage::Storage;
use tokio_util::sync::CancellationToken;

pub use pool::run_pool;
pub use settings::{Cli, Command, Settings};

/// Queues again the jobs that failed on the service's own faults (or all
/// failed jobs, with `all`), and prints how many.
pub async fn requeue_failed(settings: Settings, all: bool) -> anyhow::Result<()> {
    let (_, queue) = queue::open(&settings.shared.redis).await?;
    let moved = queue
        .requeue_failed(all)
        .await
        .context("cannot queue the failed jobs again")?;
    println!("queued {moved} failed job(s) again");
    Ok(())
}

/// Runs a stand-alone worker process until SIGINT or SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let (client, queue) = queue::open(&settings.shared.redis).await?;
    let queue = queue.with_webhooks(&settings.shared.outbound);
    let storage = Storage::open(&settings.shared.storage)
        .await
        .context("the object store is not usable")?;
    if let Some(address) = settings.worker.metrics_listen {
        avatar_common::metrics::serve(address).with_context(|| {
            format!("cannot serve metrics on {address}; set AVATARS_METRICS_LISTEN")
        })?;
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let concurrency = settings.worker.concurrency();
    run_pool(&settings, &client, queue, storage, concurrency, shutdown).await
}
