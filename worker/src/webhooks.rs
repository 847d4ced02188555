//! The webhook delivery pool of a worker process: claims due deliveries
//! from Redis (see [`avatar_common::webhooks`]), posts each signed as
//! Standard Webhooks define, and records how it went. It runs beside the
//! job slots, with a bound of its own, so a receiver that hangs holds one
//! of the pool's connections for at most [`ANSWER_WITHIN`] and never a
//! job slot.
//!
//! The operator's endpoint and clients' callbackUrls are two lanes, each
//! claimed from its own due set into its own share of connections, so no
//! callback receiver can make the operator's events wait. In the callback
//! lane, at most `per_host` deliveries are in flight to one host; the
//! host's other due deliveries are put off by [`HOST_BUSY_PAUSE`] without
//! an attempt, and a host that keeps failing is backed off as a whole by
//! the scripts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use avatar_common::avatar::{Sides, StoredAvatar};
use avatar_common::backoff::{Backoff, Jitter};
use avatar_common::imports::ImportState;
use avatar_common::queue::{Heard, JobQueue, Redis, now_ms};
use avatar_common::timestamps::rfc3339;
use avatar_common::webhooks::{Delivery, EventType, Target};
use avatar_common::{ObjectKey, SourceUrl, metrics};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::fetch::{FetchError, Fetcher};

/// How long a receiver has to answer an attempt.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// How often a pool looks for due deliveries without being woken: for
/// retries another process scheduled, and deliveries whose lease ran out
/// with a pool that died. A new delivery wakes every pool at once, and a
/// pool wakes itself for the retries it schedules, so this is seldom the
/// one that finds a delivery; each look costs Redis a script call.
const POLL: Duration = Duration::from_secs(5);

/// How long after a retry's due time its pool looks for it: the due time
/// is compared with Redis's clock in whole milliseconds.
const DUE_MARGIN: Duration = Duration::from_millis(5);

/// How long a callback waits when its host has as many in flight from
/// this pool as it may.
const HOST_BUSY_PAUSE: Duration = Duration::from_secs(1);

/// What the pool needs.
pub struct DeliveryPool {
    pub queue: JobQueue,
    pub signer: standardwebhooks::Webhook,
    /// For the operator's URL: any address, no redirects.
    pub operator: reqwest::Client,
    /// For clients' callbackUrls: the rules of URL imports.
    pub callbacks: Fetcher,
    /// Prefix of every avatarUrl, without a trailing slash.
    pub public_base_url: String,
    /// The sides of an avatar whose event names none.
    pub sides: Sides,
    pub backoff: Backoff,
    /// How long after its event a delivery is given up.
    pub give_up_after: Duration,
    /// Deliveries in flight at once, in each lane.
    pub concurrency: usize,
    /// Callback deliveries in flight at once to one host.
    pub per_host: usize,
    /// How long a claimed delivery is kept from other pools: past it, a
    /// pool that died with it in hand has its claim taken over. Longer
    /// than an attempt can take ([`ANSWER_WITHIN`]).
    pub lease: Duration,
}

/// One lane of the pool: its deliveries' target, its share of connections
/// and, for callbacks, how many are in flight to each host.
struct Lane {
    target: Target,
    slots: Arc<Semaphore>,
    hosts: Mutex<HashMap<String, usize>>,
    /// Whether the lane is to be claimed from at the pool's next wake: a
    /// delivery was announced in it, a retry came due, or a delivery ended
    /// while the lane was full (more may be due).
    wanted: AtomicBool,
    /// Whether the lane's last claim found no free connection, or took as
    /// many deliveries as it had free.
    full: AtomicBool,
}

impl Lane {
    fn hosts(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a delivery to `host` in flight, if fewer than `most` are.
    fn take_host(&self, host: &str, most: usize) -> bool {
        let mut hosts = self.hosts();
        let n = hosts.entry(host.to_owned()).or_default();
        if *n >= most {
            return false;
        }
        *n += 1;
        true
    }

    fn give_host(&self, host: &str) {
        let mut hosts = self.hosts();
        if let Some(n) = hosts.get_mut(host) {
            *n -= 1;
            if *n == 0 {
                hosts.remove(host);
            }
        }
    }
}

impl DeliveryPool {
    /// The pauses between attempts: from `first`, doubling, at most an
    /// hour, half of each random, so that the deliveries failed by one
    /// outage do not all come back at once.
    pub fn backoff(first: Duration) -> Backoff {
        Backoff {
            first,
            factor: 2,
            max: Duration::from_secs(3600),
            jitter: Jitter::Equal,
        }
    }

    /// The client for the operator's URL.
    pub fn operator_client() -> anyhow::Result<reqwest::Client> {
        reqwest::Client::builder()
            .timeout(ANSWER_WITHIN)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("avatar-service/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client for webhooks")
    }

    /// Delivers until `shutdown`, woken by each new delivery announced on
    /// `redis`'s channel, and every [`POLL`] for those whose retry came
    /// due; deliveries in flight then are left to their lease, and another
    /// pool sends them again.
    pub async fn run(self: Arc<Self>, redis: Redis, shutdown: CancellationToken) {
        let lanes = [Target::Operator, Target::Callback].map(|target| {
            Arc::new(Lane {
                target,
                slots: Arc::new(Semaphore::new(self.concurrency.max(1))),
                hosts: Mutex::new(HashMap::new()),
                wanted: AtomicBool::new(true),
                full: AtomicBool::new(false),
            })
        });
        let woken = Arc::new(Notify::new());
        let channel = self.queue.hook_wake_channel();
        let (heard_lanes, wake) = (lanes.clone(), woken.clone());
        // Each delivery announced wakes the pool for its lane; while the
        // subscription is lost and made again, the pool polls both.
        let listener = tokio::spawn(async move {
            redis
                .listen(channel, |heard| {
                    let callback =
                        matches!(&heard, Heard::Message(m) if m.starts_with("callback:"));
                    for lane in &heard_lanes {
                        let named = match &heard {
                            Heard::Message(_) => (lane.target == Target::Callback) == callback,
                            Heard::Subscribed | Heard::Lost => true,
                        };
                        if named {
                            lane.wanted.store(true, Ordering::Release);
                        }
                    }
                    wake.notify_one();
                })
                .await;
        });
        loop {
            let polled = tokio::select! {
                () = tokio::time::sleep(POLL) => true,
                () = woken.notified() => false,
                () = shutdown.cancelled() => {
                    listener.abort();
                    return;
                }
            };
            for lane in &lanes {
                if !lane.wanted.swap(false, Ordering::AcqRel) && !polled {
                    continue;
                }
                if let Err(e) = Arc::clone(&self).claim(lane, &woken).await {
                    tracing::debug!(error = %e, lane = lane.target.as_str(), "cannot claim webhook deliveries now");
                }
            }
        }
    }

    /// Claims what `lane` has room for and starts each delivery; a callback
    /// whose host has as many in flight as it may is put off.
    async fn claim(
        self: Arc<Self>,
        lane: &Arc<Lane>,
        woken: &Arc<Notify>,
    ) -> Result<(), avatar_common::queue::QueueError> {
        let free = lane.slots.available_permits();
        if free == 0 {
            lane.full.store(true, Ordering::Release);
            return Ok(());
        }
        let claimed = self
            .queue
            .claim_hooks(lane.target, free as u32, self.lease)
            .await?;
        lane.full.store(claimed.len() >= free, Ordering::Release);
        for delivery in claimed {
            // Only callbacks are held to a bound per host.
            let host = match lane.target {
                Target::Callback => delivery.host.clone(),
                Target::Operator => None,
            };
            if let Some(host) = &host
                && !lane.take_host(host, self.per_host)
            {
                self.queue.defer_hook(delivery.id, HOST_BUSY_PAUSE).await?;
                wake_after(lane, woken, HOST_BUSY_PAUSE);
                continue;
            }
            let Ok(slot) = lane.slots.clone().acquire_owned().await else {
                return Ok(());
            };
            let (pool, lane, woken) = (Arc::clone(&self), Arc::clone(lane), woken.clone());
            tokio::spawn(async move {
                let retry_in = pool.deliver(delivery).await;
                drop(slot);
                if let Some(host) = &host {
                    lane.give_host(host);
                }
                // A lane that had no room may have more due.
                if lane.full.swap(false, Ordering::AcqRel) {
                    lane.wanted.store(true, Ordering::Release);
                    woken.notify_one();
                }
                // The pool looks again when the retry comes due, not at
                // its next poll, so that pauses shorter than the poll
                // keep their length (any pool may take it meanwhile).
                if let Some(delay) = retry_in {
                    wake_after(&lane, &woken, delay);
                }
            });
        }
        Ok(())
    }

    /// One attempt at `delivery`, and its record; the pause before its
    /// next attempt when one was recorded.
    async fn deliver(&self, delivery: Delivery) -> Option<Duration> {
        let event = delivery.event.as_str();
        let mut retry_in = None;
        let outcome = match self.attempt(&delivery).await {
            Ok(()) => {
                tracing::info!(delivery = delivery.id, event, url = %delivery.url, "webhook delivered");
                self.queue
                    .end_hook(delivery.id, true)
                    .await
                    .map(|()| "delivered")
            }
            Err(Undelivered { why, for_good }) => {
                let age = Duration::from_millis(now_ms().saturating_sub(delivery.created_ms));
                let delay = self.backoff.delay(delivery.attempts);
                if for_good || age + delay > self.give_up_after {
                    tracing::error!(delivery = delivery.id, event, url = %delivery.url, attempts = delivery.attempts + 1, reason = %why, "webhook given up");
                    self.queue
                        .end_hook(delivery.id, false)
                        .await
                        .map(|()| "given_up")
                } else {
                    tracing::warn!(delivery = delivery.id, event, url = %delivery.url, ?delay, reason = %why, "webhook not delivered; retrying later");
                    retry_in = Some(delay);
                    self.queue
                        .retry_hook(delivery.id, delay, &why)
                        .await
                        .map(|()| "retried")
                }
            }
        };
        match outcome {
            Ok(outcome) => {
                metrics::webhook_attempt(event, outcome);
                retry_in
            }
            Err(e) => {
                tracing::warn!(delivery = delivery.id, error = %e, "cannot record a webhook attempt; its lease will bring it back");
                None
            }
        }
    }

    /// Posts `delivery` once; `Err` says why it did not count as taken, and
    /// whether no later attempt can do better.
    async fn attempt(&self, delivery: &Delivery) -> Result<(), Undelivered> {
        let body = self.body(delivery).await.map_err(Undelivered::retry)?;
        let timestamp = now_ms() / 1000;
        let id = delivery.webhook_id();
        let signature = self
            .signer
            .sign(&id, timestamp as i64, body.as_bytes())
            .map_err(|e| Undelivered::retry(format!("cannot sign: {e}")))?;
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ] {
            let value =
                HeaderValue::from_str(&value).map_err(|e| Undelivered::retry(e.to_string()))?;
            headers.insert(name, value);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let status = match delivery.target {
            Target::Operator => self
                .operator
                .post(&delivery.url)
                .headers(headers)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| Undelivered::retry(describe(&e)))?,
            Target::Callback => {
                let url: SourceUrl = delivery.url.parse().map_err(|e| Undelivered {
                    why: format!("{e}"),
                    for_good: true,
                })?;
                self.callbacks
                    .post(&url, headers, body, ANSWER_WITHIN)
                    .await
                    .map_err(|e| Undelivered {
                        why: e.to_string(),
                        // An address rule refuses every later attempt too.
                        for_good: matches!(
                            e,
                            FetchError::AddressNotAllowed
                                | FetchError::HostNotAllowed
                                | FetchError::PortNotAllowed { .. }
                                | FetchError::Credentials
                        ),
                    })?
            }
        };
        match status {
            200..=299 => Ok(()),
            code => Err(Undelivered::retry(format!(
                "the receiver answered HTTP {code}"
            ))),
        }
    }

    /// The event's body: the same for every attempt of one delivery.
    async fn body(&self, delivery: &Delivery) -> Result<String, String> {
        let stored = &delivery.data;
        let data = match delivery.event {
            EventType::AvatarUpdated => {
                let key = stored["key"]
                    .as_str()
                    .and_then(|k| ObjectKey::try_from(k.to_owned()).ok())
                    .ok_or("the event names no avatar")?;
                // An event recorded before sides were made has one.
                let sides = stored["sides"]
                    .as_str()
                    .and_then(|sides| sides.parse().ok())
                    .unwrap_or_else(|| self.sides.clone());
                let avatar = StoredAvatar {
                    key,
                    sides,
                    placeholder: stored["placeholder"]
                        .as_str()
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned),
                };
                let mut data = json!({
                    "userId": stored["userId"],
                    "jobId": stored["jobId"],
                    "avatarUrl": avatar.url(&self.public_base_url),
                    "avatarUrls": avatar.urls(&self.public_base_url),
                });
                if let Some(placeholder) = avatar.placeholder {
                    data["placeholder"] = placeholder.into();
                }
                data
            }
            EventType::AvatarFailed | EventType::AvatarDeleted => stored.clone(),
            EventType::ImportCompleted => {
                let id = stored["importId"].as_str().unwrap_or_default();
                match self.queue.completed_import(id).await {
                    Ok(Some(record)) => serde_json::to_value(ImportState::from(&record))
                        .map_err(|e| e.to_string())?,
                    // Expired: what the event itself knew.
                    Ok(None) => stored.clone(),
                    Err(e) => return Err(format!("cannot read the import: {e}")),
                }
            }
        };
        let body: Value = json!({
            "type": delivery.event.as_str(),
            "timestamp": rfc3339(delivery.created_ms),
            "data": data,
        });
        Ok(body.to_string())
    }
}

/// Wakes the pool for `lane` after `delay` (and the margin of due times).
fn wake_after(lane: &Arc<Lane>, woken: &Arc<Notify>, delay: Duration) {
    let (lane, woken) = (lane.clone(), woken.clone());
    tokio::spawn(async move {
        tokio::time::sleep(delay + DUE_MARGIN).await;
        lane.wanted.store(true, Ordering::Release);
        woken.notify_one();
    });
}

/// Why an attempt did not deliver, and whether that is for good.
struct Undelivered {
    why: String,
    for_good: bool,
}

impl Undelivered {
    /// A failure a later attempt may not meet.
    fn retry(why: String) -> Self {
        Self {
            why,
            for_good: false,
        }
    }
}

/// A transport error, in a few words.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        format!(
            "the receiver did not answer within {} s",
            ANSWER_WITHIN.as_secs()
        )
    } else if error.is_connect() {
        "the receiver could not be reached".into()
    } else {
        format!("the request failed: {error}")
    }
}
