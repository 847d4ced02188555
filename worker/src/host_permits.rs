//! `HostPermits`: at most `AVATARS_FETCH_PER_HOST_CONCURRENCY` fetches to
//! one origin host at a time across every worker of the deployment, so a
//! migration from one platform's CDN does not hammer it. The permits are
//! held in Redis, each with a short lease that its worker renews while the
//! fetch runs, so the permits of a worker that died mid-fetch free
//! themselves within one lease.

use std::time::Duration;

use avatar_common::SourceUrl;
use avatar_common::backoff::{Backoff, Jitter};
use avatar_common::queue::{JobQueue, QueueError};
use tokio::time::Instant;

/// The pauses between tries for a permit while every one is held.
const WAIT: Backoff = Backoff {
    first: Duration::from_millis(25),
    factor: 2,
    max: Duration::from_millis(500),
    jitter: Jitter::Equal,
};

/// The fetch permits of the deployment.
#[derive(Clone)]
pub struct HostPermits {
    queue: JobQueue,
    /// Permits per host; 0: no limit.
    limit: u32,
    /// How long a permit outlives its worker's last renewal.
    lease: Duration,
}

/// A permit taken for one fetch; give it back with [`Permit::release`].
pub struct Permit {
    queue: JobQueue,
    host: String,
    member: String,
    lease: Duration,
    /// Whether a permit is held in Redis (not with no limit).
    held: bool,
}

impl HostPermits {
    pub fn new(queue: JobQueue, limit: u32, lease: Duration) -> Self {
        Self {
            queue,
            limit,
            lease,
        }
    }

    /// Waits up to `patience` for a permit to fetch `url`; `None` when
    /// every permit of its host stayed held. With no limit, the permit
    /// holds nothing.
    pub async fn acquire(
        &self,
        url: &SourceUrl,
        patience: Duration,
    ) -> Result<Option<Permit>, QueueError> {
        let host = url
            .as_url()
            .host_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let member = ulid::Ulid::generate().to_string();
        let mut permit = Permit {
            queue: self.queue.clone(),
            host,
            member,
            lease: self.lease,
            held: false,
        };
        if self.limit == 0 {
            return Ok(Some(permit));
        }
        permit.held = true;
        let deadline = Instant::now() + patience;
        let mut tries = 0;
        loop {
            if self
                .queue
                .acquire_fetch_permit(&permit.host, &permit.member, self.limit, self.lease)
                .await?
            {
                return Ok(Some(permit));
            }
            let pause = WAIT.delay(tries);
            if Instant::now() + pause > deadline {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            tries += 1;
        }
    }
}

impl Permit {
    /// Runs `work` while holding the permit, renewing its lease a few
    /// times a lease.
    pub async fn hold_during<F: Future>(&self, work: F) -> F::Output {
        if !self.held {
            return work.await;
        }
        let mut renew = tokio::time::interval(self.lease / 3);
        renew.tick().await;
        tokio::pin!(work);
        loop {
            tokio::select! {
                output = &mut work => return output,
                _ = renew.tick() => {
                    if let Err(e) = self.queue.renew_fetch_permit(&self.host, &self.member, self.lease).await {
                        tracing::debug!(error = %e, host = %self.host, "cannot renew a fetch permit");
                    }
                }
            }
        }
    }

    /// Gives the permit back; one that cannot be given back ends with its
    /// lease.
    pub async fn release(self) {
        if !self.held {
            return;
        }
        if let Err(e) = self
            .queue
            .release_fetch_permit(&self.host, &self.member)
            .await
        {
            tracing::debug!(error = %e, host = %self.host, "cannot give back a fetch permit; its lease will end it");
        }
    }
}
