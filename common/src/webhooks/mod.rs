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
//! # What a delivery keeps in Redis
//!
//! | key | holds |
//! |---|---|
//! | `{prefix}:hook:deliveries` | each delivery's number and its record as JSON: its URL, target, event type, data, when it was made, attempts ([`field`]) |
//! | `{prefix}:hook:due` | delivery numbers scored by when the next attempt is due (unix ms) |
//! | `{prefix}:hook:pending` | delivery numbers scored by when they were made, for the oldest pending age |
//! | `{prefix}:hook:seq` | the last delivery number |
//! | `{prefix}:hook:wake` | a channel: each new delivery's number, to wake the pools |
//!
//! (Key names are made in `queue::keys`.)

mod event;

pub use event::{Delivery, EventType, Target};

use crate::jobs::record::fields;

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
    }
}
