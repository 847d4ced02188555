//! The API's settings: its own, the groups shared with the worker, and,
//! with the `workers` feature, the worker's for `--workers N`.

use std::net::SocketAddr;
use std::path::PathBuf;

use avatar_common::settings::SharedSettings;
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::rate_limit::ProxyRange;

/// avatar-api: the avatar HTTP API.
#[derive(Parser, Debug, Clone)]
#[command(name = "avatar-api", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    /// Without a command, the API runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `avatar-api` can do besides serving.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Print a bearer token for USER, signed with AVATARS_JWT_SECRET (and
    /// carrying AVATARS_JWT_ISSUER and AVATARS_JWT_AUDIENCE when set), and
    /// exit. For trying the service and for scripts; a platform's own
    /// identity provider issues its users' tokens.
    Token(TokenArgs),
}

/// The token `avatar-api token` prints.
#[derive(Args, Debug, Clone)]
pub struct TokenArgs {
    /// The user id the token names (its `sub`).
    pub user: String,
    /// Give the token the admin scope, which acts on any user and runs
    /// imports.
    #[arg(long)]
    pub admin: bool,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub expires_in_secs: u64,
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
    pub limits: LimitSettings,
    #[command(flatten)]
    pub shared: SharedSettings,
    /// How the in-process job slots of `--workers N` run.
    #[cfg(feature = "workers")]
    #[command(flatten)]
    pub worker: avatar_worker::settings::WorkerSettings,
}

impl Settings {
    /// The settings of the worker pool that `--workers N` runs, whose
    /// avatar URLs (in webhooks) start with the API's `public_base_url`.
    #[cfg(feature = "workers")]
    pub fn worker_pool(&self, public_base_url: &str) -> avatar_worker::Settings {
        let mut shared = self.shared.clone();
        shared.storage.public_base_url = Some(public_base_url.to_owned());
        avatar_worker::Settings {
            shared,
            worker: self.worker.clone(),
        }
    }
}

/// The HTTP side.
#[derive(Args, Debug, Clone)]
pub struct ApiSettings {
    /// Address the API listens on.
    #[arg(long, env = "AVATARS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Also run a worker pool with this many conversion slots inside the API process, so
    /// one process serves a single machine. 0: run workers apart.
    #[arg(long, env = "AVATARS_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Most items one import may hold.
    #[arg(long, env = "AVATARS_IMPORT_MAX_ITEMS", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub import_max_items: u64,

    /// Largest NDJSON import body, in bytes; it is read as a stream, so
    /// this bounds the body, not the API's memory.
    #[arg(long, env = "AVATARS_IMPORT_MAX_BYTES", default_value_t = 512 * 1024 * 1024)]
    pub import_max_bytes: u64,

    /// Largest JSON import body, in bytes: it is read whole, so this does
    /// bound memory; larger imports go as NDJSON.
    #[arg(long, env = "AVATARS_IMPORT_MAX_JSON_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub import_max_json_bytes: u64,

    /// Seconds a PUT waits for its job when the request does not say.
    #[arg(long, env = "AVATARS_DEFAULT_WAIT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=30))]
    pub default_wait_secs: u64,

    /// Serve the page at /try that tries the service by hand: a token, a
    /// picture, a crop box, the upload and the avatar at every size.
    #[arg(long, env = "AVATARS_TRY_PAGE", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub try_page: bool,

    /// With the try page on, also hand out tokens for made-up users at
    /// POST /try/token (needs AVATARS_JWT_SECRET): anyone may then act as
    /// a new user, so never where real users are.
    #[arg(long, env = "AVATARS_TRY_PAGE_DEV_TOKENS", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub try_page_dev_tokens: bool,
}

/// How bearer tokens are checked.
#[derive(Args, Debug, Clone)]
pub struct AuthSettings {
    /// HS256 key for bearer tokens, at least 16 bytes.
    #[arg(long, env = "AVATARS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,

    /// PEM public key file for RS256 or ES256 tokens, instead of a secret
    /// (an empty AVATARS_JWT_SECRET counts as unset).
    #[arg(long, env = "AVATARS_JWT_PUBLIC_KEY_FILE")]
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

/// How much one caller or one connection may ask of the API.
#[derive(Args, Debug, Clone)]
pub struct LimitSettings {
    /// Avatar changes per minute one user may make on average; 0: no
    /// per-user limit. Counted in Redis, across every API process.
    #[arg(long, env = "AVATARS_USER_RATE_PER_MINUTE", default_value_t = 30)]
    pub user_rate_per_minute: u32,

    /// Avatar changes one user may make in a quick burst before the
    /// per-minute rate applies.
    #[arg(long, env = "AVATARS_USER_RATE_BURST", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub user_rate_burst: u32,

    /// PUT requests per minute one client address may make on average,
    /// whoever it authenticates as; 0 (the default): no per-address limit.
    #[arg(long, env = "AVATARS_CLIENT_RATE_PER_MINUTE", default_value_t = 0)]
    pub client_rate_per_minute: u32,

    /// PUT requests one client address may make in a quick burst.
    #[arg(long, env = "AVATARS_CLIENT_RATE_BURST", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub client_rate_burst: u32,

    /// Comma-separated proxy addresses or CIDR ranges whose
    /// X-Forwarded-For header names the client; from anyone else the
    /// header is ignored. Unset: the peer address is the client.
    #[arg(long, env = "AVATARS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ProxyRange>,

    /// Largest request head (request line and headers), in bytes.
    #[arg(long, env = "AVATARS_MAX_HEADER_BYTES", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u32).range(8 * 1024..=1024 * 1024))]
    pub max_header_bytes: u32,

    /// Seconds a client has to send a request's head, from the accept or
    /// from its first byte after an idle spell; then the connection is
    /// closed.
    #[arg(long, env = "AVATARS_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,

    /// Seconds a keep-alive connection may stay idle between requests;
    /// behind a load balancer, set it above the balancer's own idle
    /// timeout.
    #[arg(long, env = "AVATARS_IDLE_TIMEOUT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,

    /// Connections the API keeps open at most; lowered to what the
    /// process's open-file limit leaves room for.
    #[arg(long, env = "AVATARS_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Connections one client address (an IPv4 address, an IPv6 /64) may
    /// keep open; trusted proxies are not held to it.
    #[arg(long, env = "AVATARS_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_client: u64,

    /// Seconds a client has to send a request's whole body.
    #[arg(long, env = "AVATARS_BODY_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_secs: u64,
}
