//! `Keys`: the names of every Redis key the service uses, all under one
//! prefix so that deployments (and tests) can share a Redis server.

use crate::imports::key_part;
use crate::jobs::Lane;
use crate::{IdempotencyKey, ImportId, JobId, UserId};

/// The consumer group every worker reads the job stream through.
pub const CONSUMER_GROUP: &str = "workers";

/// Key names under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The stream of a lane's jobs waiting for or held by a worker.
    pub fn stream(&self, lane: Lane) -> String {
        match lane {
            Lane::Interactive => format!("{}:jobs", self.prefix),
            Lane::Bulk => format!("{}:jobs:bulk", self.prefix),
        }
    }

    /// A job's status record.
    pub fn job(&self, id: &JobId) -> String {
        format!("{}:job:{id}", self.prefix)
    }

    /// A user's current avatar and last accepted update.
    pub fn user(&self, user: &UserId) -> String {
        format!("{}{user}", self.user_prefix())
    }

    /// The prefix of the user hashes; a hash's key is this plus the user id.
    pub fn user_prefix(&self) -> String {
        format!("{}:user:", self.prefix)
    }

    /// The user's running jobs, scored by when their lease runs out (unix
    /// ms): what the cap on a user's running jobs counts.
    pub fn running(&self, user: &UserId) -> String {
        format!("{}{user}", self.running_prefix())
    }

    /// The prefix of the running sets; a set's key is this plus the user id.
    pub fn running_prefix(&self) -> String {
        format!("{}:running:", self.prefix)
    }

    /// The user's jobs parked while the user is at the cap, oldest first.
    pub fn parked(&self, user: &UserId) -> String {
        format!("{}{user}", self.parked_prefix())
    }

    /// The prefix of the parked lists; a list's key is this plus the user id.
    pub fn parked_prefix(&self) -> String {
        format!("{}:parked:", self.prefix)
    }

    /// The users with parked jobs, scored by when one was last parked.
    pub fn parked_users(&self) -> String {
        format!("{}:parked-users", self.prefix)
    }

    /// The fetch permits held for an origin host, across the deployment.
    pub fn fetch_permits(&self, host: &str) -> String {
        format!("{}:fetch-host:{host}", self.prefix)
    }

    /// The prefix of job records; a record's key is this plus the job id.
    pub fn job_prefix(&self) -> String {
        format!("{}:job:", self.prefix)
    }

    /// An import's record.
    pub fn import(&self, id: &ImportId) -> String {
        format!("{}{id}", self.import_prefix())
    }

    /// The prefix of import records; the keys of an import's lists are its
    /// record's key plus a [`key_part`].
    pub fn import_prefix(&self) -> String {
        format!("{}:import:", self.prefix)
    }

    /// An import's failed items, scored by index.
    pub fn import_failures(&self, id: &ImportId) -> String {
        format!("{}{}", self.import(id), key_part::FAILURES)
    }

    /// An import's source URLs and the item that first named each.
    pub fn import_urls(&self, id: &ImportId) -> String {
        format!("{}{}", self.import(id), key_part::URLS)
    }

    /// The prefix of webhook deliveries: a delivery's key is this plus its
    /// number, and the delivery set's keys this plus a
    /// [`crate::webhooks::key_part`].
    pub fn hook_prefix(&self) -> String {
        format!("{}:hook:", self.prefix)
    }

    /// Jobs waiting to be retried, scored by when (unix ms).
    pub fn retry_set(&self) -> String {
        format!("{}:retry", self.prefix)
    }

    /// Jobs that failed, scored by when (unix ms).
    pub fn failed_set(&self) -> String {
        format!("{}:failed", self.prefix)
    }

    /// Object keys to delete, scored by when they may go (unix ms).
    pub fn garbage_set(&self) -> String {
        format!("{}:garbage", self.prefix)
    }

    /// The job a user's idempotency key names.
    pub fn idempotency(&self, user: &UserId, key: &IdempotencyKey) -> String {
        format!("{}:idem:{user}:{key}", self.prefix)
    }

    /// The channel on which finished job ids are published.
    pub fn finished_channel(&self) -> String {
        format!("{}:finished", self.prefix)
    }
}
