//! The avatar API as `avatar-import` uses it, over HTTP like any client.
//! 429 and 503 are waited out (for `Retry-After`, or a growing pause) and
//! asked again, never counted as a failed row; a connection that cannot be
//! made at all is an error of the run.

use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use serde_json::Value;

/// How many times a request that met a connection error is tried before
/// the run gives up.
const CONNECT_TRIES: u32 = 5;

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
    base: String,
    token: String,
}

impl Client {
    pub fn new(base: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .user_agent(concat!("avatar-import/", env!("CARGO_PKG_VERSION")))
                .build()?,
            base: format!("{}/api/public", base.trim_end_matches('/')),
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
            let body = response.json::<Value>().await.unwrap_or(Value::Null);
            let answer = Answer { status, body };
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                let (_, message) = answer.error();
                bail!("{what}: the API refused the token ({status}): {message}");
            }
            return Ok(answer);
        }
    }

    /// `POST /imports` of `lines` (NDJSON) with `mode`.
    pub async fn post_import(&self, lines: String, mode: &str) -> anyhow::Result<Answer> {
        let url = format!("{}/imports?mode={mode}", self.base);
        self.send("posting an import", |http| {
            http.post(&url)
                .header("content-type", "application/x-ndjson")
                .body(lines.clone())
        })
        .await
    }

    /// `GET` of a path under `/api/public`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        self.send("reading progress", |http| http.get(&url)).await
    }

    /// `PUT /user/{user}/avatarBytes?priority=bulk&wait=0`.
    pub async fn upload(&self, user: &str, bytes: Vec<u8>) -> anyhow::Result<Answer> {
        let url = format!("{}/user/{user}/avatarBytes?priority=bulk&wait=0", self.base);
        self.send("uploading a file", |http| {
            http.put(&url).body(bytes.clone())
        })
        .await
    }
}

/// The pause after `n` refusals in a row: 1 s, 2 s, 4 s ... at most 30 s.
fn pause(n: u32) -> Duration {
    Duration::from_secs((1u64 << n.saturating_sub(1).min(5)).min(30))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pauses_grow_to_half_a_minute() {
        let pauses: Vec<u64> = (1..=8).map(|n| super::pause(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
