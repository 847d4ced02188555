//! The avatar HTTP API: authenticates callers, validates and stages
//! uploads, enqueues jobs on Redis and answers with the result or a job to
//! poll. With `--workers N` it also runs a worker pool in the same process.
//!
//! # Layout
//! - [`settings`]: flags and `AVATARS_*` variables.
//! - [`auth`]: bearer tokens and who may act on whom.
//! - [`server`]: connections, and the limits on a request's head.
//! - [`request_id`]: the id every request and its job log under.
//! - [`routes`]: the HTTP routes, one file per resource.
//! - [`admission`]: who a PUT's caller is and whether the rate limits let
//!   it in, from the request's head.
//! - [`request_limits`] and [`rate_limit`]: what one request, one user and
//!   one client address may ask of the API.
//! - [`body`]: the JSON bodies of the answers, as types.
//! - [`error`]: every error answer, in one shape.
//! - [`state`]: what the handlers share.

#![forbid(unsafe_code)]

pub mod admission;
pub mod auth;
pub mod body;
pub mod connections;
pub mod error;
pub mod openapi;
pub mod rate_limit;
pub mod request_id;
pub mod request_limits;
pub mod routes;
pub mod server;
pub mod settings;
pub mod state;
pub mod try_page;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use avatar_common::queue::{self, Completions};
use avatar_common::shutdown::cancel_on_signal;
use avatar_common::storage::Storage;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use settings::{Cli, Command, Settings};

use crate::auth::Verifier;
use crate::connections::Connections;
use crate::rate_limit::RateLimits;
use crate::request_limits::RequestLimits;
use crate::state::AppState;

/// Runs the API (and its in-process workers) until SIGINT or SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
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
    let outbound = &settings.shared.outbound;
    outbound.signer().map_err(anyhow::Error::msg)?;
    let (client, queue) = queue::open(&settings.shared.redis).await?;
    let queue = queue.with_webhooks(outbound);
    let storage = Storage::open(&settings.shared.storage)
        .await
        .context("the object store is not usable")?;
    let address = listener
        .local_addr()
        .context("the listener has no address")?;
    let public_base_url = storage
        .public_base_url(&settings.shared.storage)
        .unwrap_or_else(|| format!("http://{address}/media"));
    let state = Arc::new(AppState {
        completions: Completions::start(client.clone(), &queue),
        queue: queue.clone(),
        storage: storage.clone(),
        verifier,
        public_base_url: public_base_url.clone(),
        sides: settings.shared.image.sides(),
        default_wait: Duration::from_secs(settings.api.default_wait_secs),
        max_upload_bytes: settings.shared.image.max_upload_bytes,
        import_limits: routes::imports::ImportLimits {
            max_items: settings.api.import_max_items,
            max_ndjson_bytes: settings.api.import_max_bytes,
            max_json_bytes: settings.api.import_max_json_bytes,
        },
        outbound: outbound.clone(),
        metrics: avatar_common::metrics::install()
            .inspect_err(|e| tracing::warn!(error = %e, "metrics are not recorded"))
            .ok(),
    });

    let workers = spawn_workers(
        &settings,
        &public_base_url,
        &client,
        queue,
        storage,
        &shutdown,
    )?;

    let rate_limits = Arc::new(RateLimits::from_settings(
        &settings.limits,
        state.queue.clone(),
    ));
    let request_limits = RequestLimits {
        max_header_bytes: u64::from(settings.limits.max_header_bytes),
        body_timeout: Duration::from_secs(settings.limits.body_timeout_secs),
    };
    let try_page = try_page(&settings)?;
    let router = routes::router(state, rate_limits, request_limits, try_page);

    tracing::info!(%address, "listening");
    let connections = Connections::new(connections::limits(&settings.limits));
    server::serve(
        listener,
        router,
        connections,
        u64::from(settings.limits.max_header_bytes),
        shutdown.clone(),
    )
    .await;
    tracing::info!("HTTP server stopped");
    if let Some(workers) = workers {
        shutdown.cancel();
        workers.await.context("the worker pool panicked")??;
    }
    Ok(())
}

/// The try page, if it is on, and whether it hands out tokens.
fn try_page(settings: &Settings) -> anyhow::Result<Option<try_page::TryPage>> {
    if !settings.api.try_page {
        return Ok(None);
    }
    let dev_tokens = match settings.api.try_page_dev_tokens {
        false => None,
        true => {
            // Fails at start-up, not at the first request, without a secret.
            auth::make_token(
                &settings.auth,
                &settings::TokenArgs {
                    user: "try".into(),
                    admin: false,
                    expires_in_secs: 1,
                },
            )
            .context("AVATARS_TRY_PAGE_DEV_TOKENS needs AVATARS_JWT_SECRET to sign tokens")?;
            Some(Arc::new(settings.auth.clone()))
        }
    };
    Ok(Some(try_page::TryPage { dev_tokens }))
}

/// Starts the `--workers N` pool inside this process, if asked.
#[cfg(feature = "workers")]
fn spawn_workers(
    settings: &Settings,
    public_base_url: &str,
    client: &queue::Redis,
    queue: queue::JobQueue,
    storage: Storage,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<anyhow::Result<()>>>> {
    Ok(match settings.api.workers {
        0 => None,
        n => {
            let (pool, client, shutdown) = (
                settings.worker_pool(public_base_url),
                client.clone(),
                shutdown.clone(),
            );
            Some(tokio::spawn(async move {
                avatar_worker::run_pool(&pool, &client, queue, storage, n, shutdown).await
            }))
        }
    })
}

/// Without the `workers` feature no pool can run in this process.
#[cfg(not(feature = "workers"))]
fn spawn_workers(
    settings: &Settings,
    _public_base_url: &str,
    _client: &queue::Redis,
    _queue: queue::JobQueue,
    _storage: Storage,
    _shutdown: &CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<anyhow::Result<()>>>> {
    anyhow::ensure!(
        settings.api.workers == 0,
        "this avatar-api was built without the workers feature; set AVATARS_WORKERS=0 and run avatar-worker processes"
    );
    Ok(None)
}
