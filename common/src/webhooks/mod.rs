//! Webhooks: the events the service tells platforms of, and their
//! deliveries, kept in Redis until a receiver has taken them.
//!
//! An event is recorded as one delivery per receiving URL by the same
//! script that makes it happen (the one that makes an avatar current,
//! fails a job or ends an import), so no event is lost between the change
//! and its delivery. A worker's delivery pool then claims due deliveries
//! for a lease, posts them, and deletes each once its receiver answered
//! 2xx; any other answer, or none within 10 s, schedules the next attempt
//! with exponential backoff and jitter, for up to
//! `AVATARS_WEBHOOK_RETRY_HOURS`. A pool that dies mid-delivery leaves its
//! claims to run out, and another pool delivers them again: deliveries are
//! at least once, and keep their `webhook-id`.
//!
//! Clients' callbacks cannot hold back anyone else's events:
//!
//! - They have a lane of their own (`hook:due:callbacks`) and their own
//!   share of each pool's connections, so the operator's endpoint never
//!   waits behind them.
//! - A pool sends at most `AVATARS_WEBHOOK_PER_HOST` at once to one host
//!   (host and port);
//!   the host's other due deliveries wait a second, without an attempt.
//! - A host that fails `HOST_TRIP_AFTER` attempts in a row (an error, a
//!   non-2xx, no answer) is backed off as a whole, a circuit breaker: its
//!   deliveries wait without attempts until the pause ends (30 s, doubling
//!   with each further failure, at most an hour); one success closes it.
//! - One user has at most `AVATARS_WEBHOOK_MAX_PENDING_CALLBACKS` callback
//!   deliveries pending; a PUT with a `callbackUrl` past that is refused
//!   with 429 before any job exists.
//!
//! # What a delivery keeps in Redis
//!
//! | key | holds |
//! |---|---|
//! | `{prefix}:hook:deliveries` | each delivery's number and its record as JSON: its URL, target, event type, data, when it was made, attempts ([`field`]) |
//! | `{prefix}:hook:due` | the operator's delivery numbers scored by when the next attempt is due (unix ms) |
//! | `{prefix}:hook:due:callbacks` | the same for clients' callbackUrls, a lane of their own |
//! | `{prefix}:hook:hosts` | each callback host (and port) failing lately: failures in a row and until when it is backed off, `failures\|until_ms` |
//! | `{prefix}:hook:callback-users` | each user's callback deliveries pending |
//! | `{prefix}:hook:pending` | delivery numbers scored by when they were made, for the oldest pending age |
//! | `{prefix}:hook:seq` | the last delivery number |
//! | `{prefix}:hook:wake` | a channel: each new delivery's lane and number (`operator:17`, `callback:18`), to wake the pools for that lane |
//!
//! (Key names are made in `queue::keys`.)

mod event;

pub use event::{Delivery, EventType, Target};

use std::time::Duration;

use crate::jobs::record::fields;

/// Attempts in a row a callback host may fail before it is backed off as
/// a whole.
pub const HOST_TRIP_AFTER: u32 = 5;

/// The first pause of a host backed off; each further failure doubles it,
/// up to [`HOST_PAUSE_MAX`].
pub const HOST_PAUSE_FIRST: Duration = Duration::from_secs(30);

/// The longest pause of a host backed off.
pub const HOST_PAUSE_MAX: Duration = Duration::from_secs(3600);

fields! {
    /// Field names of a delivery record.
    field {
        ID = "id",
        URL = "url",
        TARGET = "target",
        TYPE = "type",
        DATA = "data",
        CREATED = "created",
        ATTEMPTS = "attempts",
        LAST_ERROR = "last_error",
        HOST = "host",
        USER = "user",
    }
}
