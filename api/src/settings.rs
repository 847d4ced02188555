//! The API's settings: its own, plus the worker's for `--workers N`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser};
use secrecy::SecretString;

/// avatar-api: the avatar HTTP API.
#[derive(Parser, Debug, Clone)]
#[command(name = "avatar-api", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
}

/// Everything the API process needs.
#[derive(Args, Debug, Clone)]
#[group(skip)]
pub struct Settings {
    #[command(flatten)]
    pub api: ApiSettings,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub worker: avatar_worker::Settings,
}

/// The HTTP side.
#[derive(Args, Debug, Clone)]
pub struct ApiSettings {
    /// Address the API listens on.
    #[arg(long, env = "AVATARS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Prefix of every returned avatarUrl: a CDN, the bucket's public URL,
    /// or the API's own /media. Derived from the store when unset.
    #[arg(long, env = "AVATARS_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// Also run this many concurrent job slots inside the API process, so
    /// one process serves a single machine. 0: run workers apart.
    #[arg(long, env = "AVATARS_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Seconds a PUT waits for its job when the request does not say.
    #[arg(long, env = "AVATARS_DEFAULT_WAIT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=30))]
    pub default_wait_secs: u64,
}

/// How bearer tokens are checked.
#[derive(Args, Debug, Clone)]
pub struct AuthSettings {
    /// HS256 key for bearer tokens.
    #[arg(long, env = "AVATARS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,

    /// PEM public key file for RS256 or ES256 tokens, instead of a secret.
    #[arg(
        long,
        env = "AVATARS_JWT_PUBLIC_KEY_FILE",
        conflicts_with = "jwt_secret"
    )]
    pub jwt_public_key_file: Option<PathBuf>,

    /// Required `iss` claim, if set.
    #[arg(long, env = "AVATARS_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim, if set.
    #[arg(long, env = "AVATARS_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    #[arg(long, env = "AVATARS_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,
}
