//! The avatar API as `avatar-import` uses it, over HTTP like any client.
//! 429 and 503 are waited out (for `Retry-After`, or a growing pause) and
//! asked again, never counted as a failed row; a connection that cannot be
//! made at all is an error of the run.
//!
//! Every request's URL is built from segments, each percent-encoded, so
//! neither a row's user id nor an id in an answer can change which route
//! is asked; and every answer is read up to [`MAX_ANSWER_BYTES`], so a
//! server that is not the avatar API cannot make the command hold more.

use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use serde_json::Value;

/// How many times a request that met a connection error is tried before
/// the run gives up.
const CONNECT_TRIES: u32 = 5;

/// The most of an answer's body read; the API's largest, a page of 1,000
/// failures, is a few hundred kilobytes.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// An answer the API gave.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// The error of an error answer: its code and message.
    pub fn error(&self) -> (String, String) {
        let text = |name: &str| {
            self.body["error"][name]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        (text("code"), text("message"))
    }
}

pub struct Client {
    http: reqwest::Client,
    /// The API's `/api/public`.
    base: reqwest::Url,
    token: String,
}

impl Client {
    pub fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        let mut url =
            reqwest::Url::parse(base).with_context(|| format!("--api {base:?} is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            bail!("--api {base:?} must be an http:// or https:// URL");
        }
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("--api {base:?} cannot have a path"))?
            .pop_if_empty()
            .extend(["api", "public"]);
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .user_agent(concat!("avatar-import/", env!("CARGO_PKG_VERSION")))
                .build()?,
            base: url,
            token: token.to_owned(),
        })
    }

    /// Sends the request `make` builds until the API takes it: 429 and 503
    /// are waited out; 401 and 403 stop the run, as nothing else would
    /// pass either.
    async fn send(
        &self,
        what: &str,
        make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<Answer> {
        let mut busy = 0u32;
        let mut unreachable = 0u32;
        loop {
            let response = match make(&self.http).bearer_auth(&self.token).send().await {
                Ok(response) => response,
                Err(_) if unreachable + 1 < CONNECT_TRIES => {
                    unreachable += 1;
                    tokio::time::sleep(pause(unreachable)).await;
                    continue;
                }
                Err(e) => return Err(e).with_context(|| format!("{what}: the API did not answer")),
            };
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                busy += 1;
                let asked = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_secs);
                tokio::time::sleep(asked.unwrap_or_else(|| pause(busy))).await;
                continue;
            }
            let body = read_body(response, what).await?;
            let answer = Answer { status, body };
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                let (_, message) = answer.error();
                bail!("{what}: the API refused the token ({status}): {message}");
            }
            return Ok(answer);
        }
    }

    /// The URL of `segments` under `/api/public`, each percent-encoded,
    /// with `query`.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> reqwest::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("the base is an http URL")
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// `POST /imports` of `lines` (NDJSON) with `mode`.
    pub async fn post_import(&self, lines: String, mode: &str) -> anyhow::Result<Answer> {
        let url = self.url(&["imports"], &[("mode", mode)]);
        self.send("posting an import", |http| {
            http.post(url.clone())
                .header("content-type", "application/x-ndjson")
                .body(lines.clone())
        })
        .await
    }

    /// `GET` of `segments` under `/api/public`, with `query`.
    pub async fn get(&self, segments: &[&str], query: &[(&str, &str)]) -> anyhow::Result<Answer> {
        let url = self.url(segments, query);
        self.send("reading progress", |http| http.get(url.clone()))
            .await
    }

    /// `PUT /user/{user}/avatarBytes?priority=bulk&wait=0`.
    pub async fn upload(&self, user: &str, bytes: Vec<u8>) -> anyhow::Result<Answer> {
        let url = self.url(
            &["user", user, "avatarBytes"],
            &[("priority", "bulk"), ("wait", "0")],
        );
        self.send("uploading a file", |http| {
            http.put(url.clone()).body(bytes.clone())
        })
        .await
    }
}

/// The JSON body of `response` (null when it is none), read up to
/// [`MAX_ANSWER_BYTES`]; a longer one stops the run.
async fn read_body(mut response: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let too_long = || {
        anyhow::anyhow!(
            "{what}: the answer is longer than {MAX_ANSWER_BYTES} bytes; is --api the avatar service?"
        )
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_long());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("{what}: the answer broke off"))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The pause after `n` refusals in a row: 1 s, 2 s, 4 s ... at most 30 s.
fn pause(n: u32) -> Duration {
    Duration::from_secs((1u64 << n.saturating_sub(1).min(5)).min(30))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_segments_and_cannot_change_the_route() {
        let client = super::Client::new("http://127.0.0.1:9/base/", "t").expect("client");
        let url = client.url(
            &[
                "user",
                "victim/avatarBytes?priority=interactive&wait=30#",
                "avatarBytes",
            ],
            &[("wait", "0")],
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/base/api/public/user/victim%2FavatarBytes%3Fpriority=interactive&wait=30%23/avatarBytes?wait=0"
        );
        let url = client.url(&["imports", "../../../x"], &[]);
        assert_eq!(url.path(), "/base/api/public/imports/..%2F..%2F..%2Fx");
    }

    #[test]
    fn pauses_grow_to_half_a_minute() {
        let pauses: Vec<u64> = (1..=8).map(|n| super::pause(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
