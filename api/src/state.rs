//! `AppState`: what every handler shares.

use std::time::Duration;

use avatar_common::ObjectKey;
use avatar_common::metrics::PrometheusHandle;
use avatar_common::queue::{Completions, JobQueue};
use avatar_common::settings::OutboundSettings;
use avatar_common::storage::Storage;

use crate::auth::Verifier;
use crate::routes::imports::ImportLimits;

/// Shared by all requests.
pub struct AppState {
    pub queue: JobQueue,
    pub completions: Completions,
    pub storage: Storage,
    pub verifier: Verifier,
    /// Prefix of every avatarUrl, without a trailing slash.
    pub public_base_url: String,
    /// How long a PUT waits when the request does not say.
    pub default_wait: Duration,
    /// The largest accepted body, in bytes.
    pub max_upload_bytes: u64,
    /// What one import may hold.
    pub import_limits: ImportLimits,
    /// Whether webhooks are on, and what a callbackUrl may name.
    pub outbound: OutboundSettings,
    /// Renders the process's metrics; `None` if another recorder was
    /// installed first.
    pub metrics: Option<PrometheusHandle>,
}

impl AppState {
    /// The public URL of the avatar stored under `key`.
    pub fn avatar_url(&self, key: &ObjectKey) -> String {
        format!("{}/{key}", self.public_base_url)
    }
}
