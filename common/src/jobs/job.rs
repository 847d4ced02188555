//! The job contract between the API and the workers: what a job asks for
//! ([`Job`]), where its source is ([`JobSource`]), and why it failed
//! ([`JobFailure`]).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Lane;
use crate::imports::ImportItem;
use crate::{JobId, ObjectKey, RequestId, SourceUrl, UserId};

/// One request to replace a user's avatar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub user: UserId,
    pub source: JobSource,
    /// Absent in the JSON of an interactive job.
    #[serde(default, skip_serializing_if = "Lane::is_interactive")]
    pub lane: Lane,
    /// The import this job is an item of, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportItem>,
    /// The id of the request that made the job, for its log lines.
    #[serde(default, rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
    /// The rectangle of the upright image the client chose, if any, as
    /// its text `LEFT,TOP,WIDTH,HEIGHT`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crop_text")]
    pub crop: Option<avatar_format::Crop>,
}

/// A crop in a job's JSON: its text, checked again when read.
mod crop_text {
    use avatar_format::Crop;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(crop: &Option<Crop>, out: S) -> Result<S::Ok, S::Error> {
        match crop {
            Some(crop) => out.collect_str(crop),
            None => out.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Option<Crop>, D::Error> {
        Option::<String>::deserialize(input)?
            .map(|text| Crop::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Where a job's source image is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSource {
    /// Uploaded bytes, staged in the object store under this key.
    Staged { key: ObjectKey },
    /// A URL the worker fetches.
    Url { url: SourceUrl },
}

/// Why a job failed, in the terms the API reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The source is not an image format the service decodes.
    UnsupportedMediaType,
    /// The source is larger than the byte limit.
    PayloadTooLarge,
    /// The source is corrupt, too large in pixels, or could not be fetched.
    ImageRejected,
    /// The service gave up after retrying a fault of its own.
    Unavailable,
}

impl FailureCode {
    /// The stable error code of the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::ImageRejected => "image_rejected",
            Self::Unavailable => "unavailable",
        }
    }
}

impl FromStr for FailureCode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unsupported_media_type" => Ok(Self::UnsupportedMediaType),
            "payload_too_large" => Ok(Self::PayloadTooLarge),
            "image_rejected" => Ok(Self::ImageRejected),
            "unavailable" => Ok(Self::Unavailable),
            other => Err(format!("unknown failure code {other:?}")),
        }
    }
}

/// A failed job's error, with a message written for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    pub code: FailureCode,
    pub message: String,
}

impl JobFailure {
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_serialize_with_a_tagged_source() {
        let job = Job {
            id: JobId::generate(),
            user: "bob".parse().expect("valid id"),
            source: JobSource::Url {
                url: "https://example.com/a.png".parse().expect("valid url"),
            },
            lane: Lane::Bulk,
            import: None,
            request_id: Some("req-1".parse().expect("valid id")),
            crop: Some(avatar_format::Crop::parse("0.1,0.2,0.5,0.5").expect("a crop")),
        };
        let json = serde_json::to_value(&job).expect("serializes");
        assert_eq!(json["source"]["kind"], "url");
        assert_eq!(json["crop"], "0.1,0.2,0.5,0.5");
        let back: Job = serde_json::from_value(json.clone()).expect("deserializes");
        assert_eq!(back, job);
        let mut bad = json;
        bad["crop"] = "0.9,0,0.5,0.5".into();
        assert!(serde_json::from_value::<Job>(bad).is_err());
    }

    #[test]
    fn codes_round_trip_through_their_names() {
        for code in [
            FailureCode::UnsupportedMediaType,
            FailureCode::PayloadTooLarge,
            FailureCode::ImageRejected,
            FailureCode::Unavailable,
        ] {
            assert_eq!(code.as_str().parse(), Ok(code));
        }
    }
}
