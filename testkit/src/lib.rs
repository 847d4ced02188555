//! What the tests share: the shared image corpus ([`corpus`]), small files
//! crafted to cost a decoder dearly ([`hostile`], [`hostile_heif`]) and, with
//! the `service` feature, the processes under test ([`app`]), the S3
//! server ([`s3`]), test images ([`images`], also alone with the `images`
//! feature), a local HTTP server for
//! URL imports ([`source_server`]), a webhook receiver ([`receiver`]) and
//! Redis deployments of a test's own, a cluster and a TLS server
//! ([`redis_servers`]).

#![forbid(unsafe_code)]

#[cfg(feature = "service")]
pub mod app;
pub mod corpus;
pub mod hostile;
pub mod hostile_heif;
#[cfg(feature = "images")]
pub mod images;
#[cfg(feature = "service")]
pub mod receiver;
#[cfg(feature = "service")]
pub mod redis_servers;
#[cfg(feature = "service")]
pub mod s3;
#[cfg(feature = "service")]
pub mod source_server;

#[cfg(feature = "service")]
pub use app::{Storage, TestApp};

/// Checks that `response` is an error of `status` whose JSON body has
/// `code`, and returns its message, which must not be empty.
#[cfg(feature = "service")]
pub async fn assert_error(
    response: reqwest::Response,
    status: reqwest::StatusCode,
    code: &str,
) -> String {
    assert_eq!(response.status(), status, "expected {code}");
    let body: serde_json::Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("a message")
        .to_owned();
    assert!(!message.is_empty());
    message
}

/// Runs `check` every `every` until it gives `Ok`, and returns that value;
/// once `limit` has passed the test fails, naming `waiting_for` and what
/// the last `Err` said it saw.
#[cfg(feature = "service")]
pub async fn eventually<T, Fut>(
    limit: std::time::Duration,
    every: std::time::Duration,
    waiting_for: &str,
    mut check: impl FnMut() -> Fut,
) -> T
where
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                std::time::Instant::now() < deadline,
                "{waiting_for}: {seen}"
            ),
        }
        tokio::time::sleep(every).await;
    }
}
