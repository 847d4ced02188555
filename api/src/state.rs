//! `AppState`: what every handler shares.

use std::time::Duration;

use avatar_common::ObjectKey;
use avatar_common::avatar::{Sides, StoredAvatar};
use avatar_common::metrics::PrometheusHandle;
use avatar_common::queue::{Completions, JobQueue};
use avatar_common::settings::OutboundSettings;
use avatar_common::storage::Storage;

use crate::auth::Verifier;
use crate::body;
use crate::routes::imports::ImportLimits;

/// Shared by all requests.
pub struct AppState {
    pub queue: JobQueue,
    pub completions: Completions,
    pub storage: Storage,
    pub verifier: Verifier,
    /// Prefix of every avatarUrl, without a trailing slash.
    pub public_base_url: String,
    /// The sides avatars are made at, for one recorded without its own.
    pub sides: Sides,
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
    /// Where the avatar whose largest side is under `key` is, with its
    /// `sides` (`None` for one recorded before sides were: the
    /// deployment's largest alone) and `placeholder`.
    pub fn avatar(
        &self,
        key: &ObjectKey,
        sides: Option<&Sides>,
        placeholder: Option<&String>,
    ) -> body::Avatar {
        let avatar = StoredAvatar {
            key: key.clone(),
            sides: sides.cloned().unwrap_or_else(|| self.sides.clone()),
            placeholder: placeholder.cloned(),
        };
        body::Avatar::new(&avatar, &self.public_base_url)
    }
}
