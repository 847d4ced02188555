//! The avatar HTTP API: authenticates callers, validates and stages
//! uploads, enqueues jobs on Redis and answers with the result or a job to
//! poll. With `--workers N` it also runs a worker pool in the same process.
//!
//! # Layout
//! - [`settings`]: flags and `AVATARS_*` variables.
//! - [`auth`]: bearer tokens and who may act on whom.
//! - [`routes`]: the HTTP routes, one file per resource.
//! - [`error`]: every error answer, in one shape.
//! - [`state`]: what the handlers share.

pub mod auth;
pub mod error;
pub mod routes;
pub mod settings;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use avatar_common::queue::Completions;
use avatar_common::storage::Storage;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use settings::{Cli, Settings};

use crate::auth::Verifier;
use crate::state::AppState;

/// Runs the API (and its in-process workers) until SIGINT or SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(avatar_worker::cancel_on_signal(shutdown.clone()));
    let listener = TcpListener::bind(settings.api.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; set AVATARS_LISTEN",
                settings.api.listen
            )
        })?;
    serve(listener, settings, shutdown).await
}

/// Serves the API on `listener` until `shutdown` is cancelled, then
/// answers the requests in flight and stops.
pub async fn serve(
    listener: TcpListener,
    settings: Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let verifier = Verifier::from_settings(&settings.auth)?;
    let shared = &settings.worker;
    let (client, queue) = avatar_common::queue::open(&shared.redis)
        .await
        .with_context(|| {
            format!(
                "cannot reach Redis at {}; start it or set AVATARS_REDIS_URL",
                shared.redis.redis_url
            )
        })?;
    let storage = Storage::open(&shared.storage)
        .await
        .context("the object store is not usable")?;
    let address = listener
        .local_addr()
        .context("the listener has no address")?;
    let public_base_url = settings
        .api
        .public_base_url
        .clone()
        .or_else(|| storage.default_public_base())
        .unwrap_or_else(|| format!("http://{address}/media"))
        .trim_end_matches('/')
        .to_owned();
    let state = Arc::new(AppState {
        completions: Completions::start(client.clone(), &queue),
        queue: queue.clone(),
        storage: storage.clone(),
        verifier,
        public_base_url,
        default_wait: Duration::from_secs(settings.api.default_wait_secs),
        max_upload_bytes: shared.image.max_upload_bytes,
    });

    let workers = match settings.api.workers {
        0 => None,
        n => {
            let (settings, client, shutdown) = (shared.clone(), client.clone(), shutdown.clone());
            Some(tokio::spawn(async move {
                avatar_worker::run_pool(&settings, &client, queue, storage, n, shutdown).await
            }))
        }
    };

    tracing::info!(%address, "listening");
    let stop = shutdown.clone();
    axum::serve(listener, routes::router(state))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .context("the HTTP server failed")?;
    tracing::info!("HTTP server stopped");
    if let Some(workers) = workers {
        shutdown.cancel();
        workers.await.context("the worker pool panicked")??;
    }
    Ok(())
}
