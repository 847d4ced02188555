//! The settings both binaries share, as clap argument groups: each field is
//! a flag and an `AVATARS_*` variable, documented in `--help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::avatar::Sides;

/// The groups of settings the API and the workers both take.
#[derive(Args, Debug, Clone)]
#[group(skip)]
pub struct SharedSettings {
    #[command(flatten)]
    pub redis: RedisSettings,
    #[command(flatten)]
    pub storage: StorageSettings,
    #[command(flatten)]
    pub image: ImageSettings,
    #[command(flatten)]
    pub log: LogSettings,
    #[command(flatten)]
    pub outbound: OutboundSettings,
}

/// The queue and status store.
#[derive(Args, Debug, Clone)]
pub struct RedisSettings {
    /// Redis holding the queue, job status and the current-avatar index.
    #[arg(
        long,
        env = "AVATARS_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,

    /// AVATARS_REDIS_URL names a Redis Cluster: one or more of its nodes,
    /// comma-separated (the others are found from them).
    #[arg(long, env = "AVATARS_REDIS_CLUSTER", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub redis_cluster: bool,

    /// PEM file of the certificate authority that signed the certificate of
    /// a `rediss://` server (or cluster), when it is not a public one.
    #[arg(long, env = "AVATARS_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,

    /// Prefix of every Redis key, so deployments can share one Redis; also
    /// the keys' hash tag (`{avatars}:jobs`), which keeps a deployment in
    /// one slot of a Redis Cluster. Neither `{` nor `}`.
    #[arg(long, env = "AVATARS_REDIS_PREFIX", default_value = "avatars",
          value_parser = redis_prefix)]
    pub redis_prefix: String,

    /// Replicas that must hold an accepted job (or import batch) before the
    /// API answers for it (Redis WAIT), so that a failover to a replica
    /// cannot lose it. 0: answer once the primary holds it.
    #[arg(long, env = "AVATARS_REDIS_WAIT_REPLICAS", default_value_t = 0)]
    pub redis_wait_replicas: u32,

    /// How long the record of a finished or failed job is kept, in seconds.
    #[arg(long, env = "AVATARS_JOB_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub job_ttl_secs: u64,
}

/// Checks a key prefix: the text between the braces of a hash tag, so not
/// empty and without a brace.
pub fn redis_prefix(prefix: &str) -> Result<String, String> {
    if prefix.is_empty() || prefix.contains(['{', '}']) {
        return Err(format!(
            "{prefix:?} cannot be a key prefix: it becomes the keys' hash tag, so it must not be empty or hold a brace"
        ));
    }
    Ok(prefix.to_owned())
}

/// `url` with its password (if any) replaced by `***`, for messages and
/// logs, each node of a comma-separated cluster list alike; text that is
/// not a URL comes back as a placeholder.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|node| match url::Url::parse(node.trim()) {
            Ok(mut parsed) => {
                if parsed.password().is_some() {
                    // Cannot fail: a URL with a password has a host.
                    let _ = parsed.set_password(Some("***"));
                }
                parsed.to_string()
            }
            Err(_) => "(an unparsable URL)".into(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl RedisSettings {
    pub fn job_ttl(&self) -> Duration {
        Duration::from_secs(self.job_ttl_secs)
    }
}

/// Where avatars and staged uploads are stored.
#[derive(Args, Debug, Clone)]
pub struct StorageSettings {
    /// Store objects in this S3 bucket; unset: in AVATARS_DATA_DIR.
    #[arg(long, env = "AVATARS_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// Custom S3 endpoint (MinIO, Garage, ...); selects path-style addressing.
    #[arg(long, env = "AVATARS_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 region. Credentials come from the standard AWS chain
    /// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles, ...).
    #[arg(long, env = "AVATARS_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// Storage root when no bucket is set; the API serves its avatars
    /// under /media/. API and workers must see the same directory.
    #[arg(long, env = "AVATARS_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Prefix of every returned avatarUrl: a CDN, the bucket's public URL,
    /// or the API's own /media. Derived from the store when unset (and, for
    /// local storage, from the API's listen address).
    #[arg(long, env = "AVATARS_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
}

/// What sources are accepted and what avatars are made of them.
#[derive(Args, Debug, Clone)]
pub struct ImageSettings {
    /// Side of the square avatar, in pixels.
    #[arg(long, env = "AVATARS_AVATAR_SIZE", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(16..=4096))]
    pub avatar_size: u32,

    /// Every side made of each avatar, comma-separated (e.g.
    /// `512,256,128,64`), all from one decode: the largest is `avatarUrl`,
    /// each other is stored beside it. Unset: `AVATARS_AVATAR_SIZE` alone.
    #[arg(long, env = "AVATARS_SIZES")]
    pub sizes: Option<Sides>,

    /// Where the avatar's square is cut when a PUT gives no `crop` (and for
    /// every import item): `centre`; `attention`, the most interesting
    /// part of the picture (edges, skin tones and saturated colour); or
    /// `face`, centred on the largest face, `attention` without one.
    #[arg(long, env = "AVATARS_CROP", value_enum, default_value_t = CropMode::Centre)]
    pub crop: CropMode,

    /// JPEG quality of the avatar, 1 to 100.
    #[arg(long, env = "AVATARS_JPEG_QUALITY", default_value_t = 85,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub jpeg_quality: u8,

    /// Largest accepted upload body or fetched source, in bytes.
    #[arg(long, env = "AVATARS_MAX_UPLOAD_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    /// Largest accepted source, in pixels, checked before decoding.
    #[arg(long, env = "AVATARS_MAX_PIXELS", default_value_t = 100_000_000)]
    pub max_pixels: u64,

    /// Most bytes of memory one image's decode may need, from its header
    /// (width x height x bytes per pixel, plus the RGB copy; a progressive
    /// JPEG's coefficients), checked before decoding.
    #[arg(long, env = "AVATARS_MAX_DECODE_BYTES", default_value_t = 96 << 20)]
    pub max_decode_bytes: u64,
}

impl ImageSettings {
    /// The sides made of every avatar: `AVATARS_SIZES`, else
    /// `AVATARS_AVATAR_SIZE` alone.
    pub fn sides(&self) -> Sides {
        self.sizes.clone().unwrap_or_else(|| {
            Sides::one(self.avatar_size)
                .expect("AVATARS_AVATAR_SIZE is parsed within the bounds of a side")
        })
    }
}

/// What the service sends to or fetches from other hosts, beyond the
/// worker's own fetch limits.
#[derive(Args, Debug, Clone)]
pub struct OutboundSettings {
    /// Let URL imports and callbackUrls reach loopback and private
    /// addresses (tests and private deployments only).
    #[arg(long, env = "AVATARS_ALLOW_PRIVATE_SOURCES", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub allow_private_sources: bool,

    /// Receives every webhook event of the deployment: the operator's own
    /// endpoint, which may be on a private address. Unset: none.
    #[arg(long, env = "AVATARS_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Signing secret of webhook deliveries, `whsec_` and base64, as
    /// Standard Webhooks define it. Needed for any webhook.
    #[arg(long, env = "AVATARS_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Comma-separated hosts URL imports may fetch from and callbackUrls
    /// may name (each redirect too): `cdn.example.com` is that host only,
    /// `*.example.com` its subdomains, an IP address that address. Unset:
    /// any public host.
    #[arg(long, env = "AVATARS_FETCH_ALLOWED_HOSTS", value_delimiter = ',')]
    pub fetch_allowed_hosts: Vec<crate::address::HostPattern>,

    /// Comma-separated ports URL imports may fetch from and callbackUrls
    /// may name (each redirect too), or `any`.
    #[arg(long, env = "AVATARS_FETCH_ALLOWED_PORTS", default_value = "80,443")]
    pub fetch_allowed_ports: crate::address::AllowedPorts,

    /// Hours a webhook delivery is retried before it is given up.
    #[arg(long, env = "AVATARS_WEBHOOK_RETRY_HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(u64).range(1..=24 * 30))]
    pub webhook_retry_hours: u64,

    /// Callback deliveries one user may have pending; a PUT with a
    /// callbackUrl past it is refused with 429. 0: no cap.
    #[arg(
        long,
        env = "AVATARS_WEBHOOK_MAX_PENDING_CALLBACKS",
        default_value_t = 100
    )]
    pub webhook_max_pending_callbacks: u64,
}

impl OutboundSettings {
    /// The rules every URL a worker fetches or posts to must satisfy.
    pub fn url_rules(&self) -> crate::address::UrlRules {
        crate::address::UrlRules {
            allow_private: self.allow_private_sources,
            hosts: self.fetch_allowed_hosts.clone(),
            ports: self.fetch_allowed_ports.clone(),
        }
    }

    /// Whether webhooks can be signed, hence sent.
    pub fn webhooks_enabled(&self) -> bool {
        self.webhook_secret
            .as_deref()
            .is_some_and(|s| !s.is_empty())
    }

    /// What signs webhook deliveries, if a secret is set; the error says
    /// what is wrong with the settings.
    pub fn signer(&self) -> Result<Option<standardwebhooks::Webhook>, String> {
        let secret = self.webhook_secret.as_deref().filter(|s| !s.is_empty());
        match (secret, &self.webhook_url) {
            (None, Some(_)) => Err(
                "AVATARS_WEBHOOK_URL is set without AVATARS_WEBHOOK_SECRET; set a secret (whsec_ and base64) to sign the deliveries with".into(),
            ),
            (None, None) => Ok(None),
            (Some(secret), _) => standardwebhooks::Webhook::new(secret).map(Some).map_err(|e| {
                format!("AVATARS_WEBHOOK_SECRET is not a Standard Webhooks secret (whsec_ and base64): {e}")
            }),
        }
    }
}

/// How logs are written.
#[derive(Args, Debug, Clone)]
pub struct LogSettings {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, env = "AVATARS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter, in tracing's EnvFilter syntax (e.g. "info,avatar_worker=debug").
    #[arg(long, env = "AVATARS_LOG", default_value = "info")]
    pub log: String,
}

/// `AVATARS_CROP`: where the square goes without a client's crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CropMode {
    /// The centre of the picture.
    #[value(alias = "center")]
    Centre,
    /// Its most interesting part, as libvips's `attention` crop.
    Attention,
    /// The largest face, or `attention` where none is found.
    Face,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_with_a_brace_is_refused() {
        assert_eq!(redis_prefix("avatars").as_deref(), Ok("avatars"));
        assert!(redis_prefix("a{b").is_err());
        assert!(redis_prefix("a}").is_err());
        assert!(redis_prefix("").is_err());
    }

    #[test]
    fn a_redis_password_is_never_shown() {
        assert_eq!(
            redact_url("redis://user:s3cret@cache.internal:6380/2"),
            "redis://user:***@cache.internal:6380/2"
        );
        assert_eq!(
            redact_url("rediss://:s3cret@cache.internal"),
            "rediss://:***@cache.internal"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert!(!redact_url("not a url s3cret").contains("s3cret"));
        assert_eq!(
            redact_url("redis://:s3cret@10.0.0.1:6379, redis://:s3cret@10.0.0.2:6379"),
            "redis://:***@10.0.0.1:6379,redis://:***@10.0.0.2:6379"
        );
    }
}
