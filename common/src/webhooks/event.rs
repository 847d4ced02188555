//! The events, and a delivery as claimed from Redis.

use std::collections::HashMap;
use std::str::FromStr;

use super::field;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// An avatar became current.
    AvatarUpdated,
    /// A job failed.
    AvatarFailed,
    /// A DELETE removed an avatar.
    AvatarDeleted,
    /// Every item of an import has ended.
    ImportCompleted,
}

impl EventType {
    pub const ALL: [Self; 4] = [
        Self::AvatarUpdated,
        Self::AvatarFailed,
        Self::AvatarDeleted,
        Self::ImportCompleted,
    ];

    /// The `type` of the event's body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AvatarUpdated => "avatar.updated",
            Self::AvatarFailed => "avatar.failed",
            Self::AvatarDeleted => "avatar.deleted",
            Self::ImportCompleted => "import.completed",
        }
    }
}

impl FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown event type {s:?}"))
    }
}

/// Whose URL a delivery goes to, which decides what it may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `AVATARS_WEBHOOK_URL`: the operator's endpoint, which may be on a
    /// private address.
    Operator,
    /// A client's `callbackUrl`: the rules of URL imports apply.
    Callback,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Callback => "callback",
        }
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Operator, Self::Callback]
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown webhook target {s:?}"))
    }
}

/// A delivery claimed for an attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The delivery's number; `webhook-id` is made from it.
    pub id: u64,
    pub url: String,
    pub target: Target,
    pub event: EventType,
    /// What the script that made the event knew of it.
    pub data: serde_json::Value,
    /// When the event happened, unix ms.
    pub created_ms: u64,
    /// Attempts before this one.
    pub attempts: u32,
    /// A callback's host and port, as its back-off is kept under.
    pub host: Option<String>,
}

impl Delivery {
    /// The `webhook-id` of every attempt of this delivery.
    pub fn webhook_id(&self) -> String {
        format!("msg_{}_{}", self.created_ms, self.id)
    }

    /// Reads a delivery from its record's fields.
    pub fn parse(mut fields: HashMap<String, String>) -> Result<Self, String> {
        let host = fields.remove(field::HOST).filter(|h| !h.is_empty());
        let mut take = |name: &str| {
            fields
                .remove(name)
                .ok_or_else(|| format!("webhook delivery lacks {name:?}"))
        };
        let number = |v: String| v.parse::<u64>().map_err(|e| e.to_string());
        Ok(Self {
            id: number(take(field::ID)?)?,
            url: take(field::URL)?,
            target: take(field::TARGET)?.parse()?,
            event: take(field::TYPE)?.parse()?,
            data: serde_json::from_str(&take(field::DATA)?).map_err(|e| e.to_string())?,
            created_ms: number(take(field::CREATED)?)?,
            attempts: u32::try_from(number(take(field::ATTEMPTS)?)?).unwrap_or(u32::MAX),
            host,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_reads_back_with_a_stable_webhook_id() {
        let fields: HashMap<String, String> = [
            (field::ID, "7"),
            (field::URL, "https://hooks.example.com/"),
            (field::TARGET, "callback"),
            (field::TYPE, "avatar.failed"),
            (field::DATA, r#"{"userId":"u1"}"#),
            (field::CREATED, "1700000000000"),
            (field::ATTEMPTS, "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let delivery = Delivery::parse(fields).expect("parses");
        assert_eq!(delivery.event, EventType::AvatarFailed);
        assert_eq!(delivery.target, Target::Callback);
        assert_eq!(delivery.webhook_id(), "msg_1700000000000_7");
        assert_eq!(delivery.data["userId"], "u1");
    }
}
