//! What the tests share: the processes under test, the S3 server, test
//! images and a local HTTP server for URL imports.

pub mod app;
pub mod images;
pub mod s3;
pub mod source_server;

use std::future::Future;
use std::time::{Duration, Instant};

pub use app::{Storage, TestApp};

/// Runs `check` every `every` until it gives `Ok`, and returns that value;
/// once `limit` has passed the test fails, naming `waiting_for` and what
/// the last `Err` said it saw.
pub async fn eventually<T, Fut>(
    limit: Duration,
    every: Duration,
    waiting_for: &str,
    mut check: impl FnMut() -> Fut,
) -> T
where
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) => assert!(Instant::now() < deadline, "{waiting_for}: {seen}"),
        }
        tokio::time::sleep(every).await;
    }
}
