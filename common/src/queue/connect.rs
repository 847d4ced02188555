//! Opening Redis: one server or a Redis Cluster, either over TLS. [`Redis`]
//! opens [`Connection`]s that reconnect (and, on a cluster, follow the
//! slots to a promoted replica) by themselves, and keeps subscriptions
//! alive across reconnects ([`Redis::listen`]).
//!
//! On a cluster every key of the deployment carries its hash tag (see
//! [`super::Keys`]), so every command and script runs in one slot, on one
//! primary. Pub/sub messages are broadcast to every node, so a subscription
//! on any node hears them; the cluster's subscription is made over RESP3,
//! on a connection of its own, and made again by the client on another
//! node when its node goes away.

use std::time::Duration;

use futures::StreamExt;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, PushKind, RedisFuture, TlsCertificates, Value};

use super::QueueError;
use crate::backoff::RECONNECT;
use crate::settings::{RedisSettings, redact_url};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an ordinary command may take before it counts as failed.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Where Redis is, and how to reach it.
#[derive(Clone)]
pub struct Redis {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Single(Box<redis::Client>),
    Cluster(Box<Cluster>),
}

/// The clients of one cluster.
#[derive(Clone)]
struct Cluster {
    /// For commands (RESP2).
    commands: ClusterClient,
    /// For subscriptions (RESP3, whose pushes carry the messages).
    subscriptions: ClusterClient,
}

impl Redis {
    /// The Redis the settings name: `AVATARS_REDIS_URL` (with
    /// `AVATARS_REDIS_CLUSTER`, one or more nodes, comma-separated), over
    /// TLS for `rediss://` with the CA of `AVATARS_REDIS_CA_FILE` when set.
    /// Nothing is connected yet.
    pub fn open(settings: &RedisSettings) -> Result<Self, QueueError> {
        let invalid = |source| QueueError::Unreachable {
            url: redact_url(&settings.redis_url),
            source,
        };
        let certs = match &settings.redis_ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| QueueError::CaFile {
                path: path.display().to_string(),
                source: e,
            })?),
            None => None,
        };
        let tls = |pem: &Vec<u8>| TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.clone()),
        };
        let kind = if settings.redis_cluster {
            let nodes: Vec<&str> = settings
                .redis_url
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            let build = |protocol| {
                let mut builder = ClusterClientBuilder::new(nodes.clone()).use_protocol(protocol);
                if let Some(pem) = &certs {
                    builder = builder.certs(tls(pem));
                }
                builder.build()
            };
            Kind::Cluster(Box::new(Cluster {
                commands: build(redis::ProtocolVersion::RESP2).map_err(invalid)?,
                subscriptions: build(redis::ProtocolVersion::RESP3).map_err(invalid)?,
            }))
        } else {
            let client = match &certs {
                Some(pem) => redis::Client::build_with_tls(settings.redis_url.as_str(), tls(pem)),
                None => redis::Client::open(settings.redis_url.as_str()),
            };
            Kind::Single(Box::new(client.map_err(invalid)?))
        };
        Ok(Self { kind })
    }

    /// A connection whose commands may take up to `response_timeout`
    /// (longer than the longest blocking command sent on it).
    pub async fn connect(&self, response_timeout: Duration) -> Result<Connection, QueueError> {
        Ok(match &self.kind {
            Kind::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(response_timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(2));
                Connection::Single(client.get_connection_manager_with_config(config).await?)
            }
            Kind::Cluster(cluster) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(response_timeout);
                Connection::Cluster(
                    cluster
                        .commands
                        .get_async_connection_with_config(config)
                        .await?,
                )
            }
        })
    }

    /// Subscribes to `channel` for as long as the process runs, telling
    /// `heard` of each message and of each time the subscription was made
    /// (again) or lost, since messages may have been missed meanwhile.
    pub async fn listen(&self, channel: String, mut heard: impl FnMut(Heard)) {
        let mut failures = 0;
        loop {
            let ended = match &self.kind {
                Kind::Single(client) => listen_single(client, &channel, &mut heard).await,
                Kind::Cluster(cluster) => {
                    listen_cluster(&cluster.subscriptions, &channel, &mut heard).await
                }
            };
            match ended {
                Ok(()) => failures = 0,
                Err(e) => tracing::warn!(error = %e, %channel, "cannot subscribe; trying again"),
            }
            heard(Heard::Lost);
            tokio::time::sleep(RECONNECT.delay(failures)).await;
            failures += 1;
        }
    }
}

/// What a subscription heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A message, its payload.
    Message(String),
    /// The subscription was made, or made again.
    Subscribed,
    /// The subscription was lost; it is being made again.
    Lost,
}

/// Listens on one server until the subscription drops.
async fn listen_single(
    client: &redis::Client,
    channel: &str,
    heard: &mut impl FnMut(Heard),
) -> Result<(), redis::RedisError> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    heard(Heard::Subscribed);
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        if let Ok(payload) = message.get_payload::<String>() {
            heard(Heard::Message(payload));
        }
    }
    Ok(())
}

/// Listens on a cluster, whose client makes the subscription again on
/// another node when its node goes, until the connection is dropped.
async fn listen_cluster(
    client: &ClusterClient,
    channel: &str,
    heard: &mut impl FnMut(Heard),
) -> Result<(), redis::RedisError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let config = ClusterConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(COMMAND_TIMEOUT)
        .set_push_sender(tx);
    let mut conn = client.get_async_connection_with_config(config).await?;
    conn.subscribe(channel).await?;
    while let Some(push) = rx.recv().await {
        match push.kind {
            PushKind::Message => {
                if let Some(payload) = push
                    .data
                    .get(1)
                    .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
                {
                    heard(Heard::Message(payload));
                }
            }
            PushKind::Subscribe => heard(Heard::Subscribed),
            PushKind::Disconnection => heard(Heard::Lost),
            _ => {}
        }
    }
    Ok(())
}

/// A connection to one server or to a cluster, cheap to clone.
#[derive(Clone)]
pub enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}
