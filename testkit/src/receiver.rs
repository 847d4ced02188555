//! A local webhook receiver that the webhook tests point the service at:
//! it records every request and answers as it is told.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// 204 to everything.
    Accept,
    /// 500 to the first `n` requests, then 204.
    FailFirst(usize),
    /// Never answers.
    Hang,
    /// No answer until [`Receiver::accept_from_now`], then 204.
    HangUntilTold,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    /// When it came, in unix ms, to compare with times kept in Redis.
    pub at_unix_ms: u64,
    /// What the receiver answered; `None` while it hangs.
    pub status: Option<u16>,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a webhook body is JSON")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A running receiver; formats as the URL to post to.
#[derive(Clone)]
pub struct Receiver {
    url: String,
    state: Arc<Shared>,
}

struct Shared {
    behaviour: Behaviour,
    seen: AtomicUsize,
    accepting: AtomicBool,
    received: Mutex<Vec<Received>>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the webhook receiver");
        let address = listener.local_addr().expect("address");
        let state = Arc::new(Shared {
            behaviour,
            seen: AtomicUsize::new(0),
            accepting: AtomicBool::new(false),
            received: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{address}/hook"),
            state,
        }
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The requests answered 2xx so far.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
            .collect()
    }

    /// Waits until `count` requests were answered 2xx, and returns them.
    pub async fn wait_accepted(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver accepted {} of {count} deliveries within {within:?}; it got {:?}",
                accepted.len(),
                self.received()
                    .iter()
                    .map(|r| (r.status, String::from_utf8_lossy(&r.body).into_owned()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// With [`Behaviour::HangUntilTold`]: accept from now on.
    pub fn accept_from_now(&self) {
        self.state.accepting.store(true, Ordering::SeqCst);
    }
}

impl std::fmt::Display for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

async fn receive(State(state): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = state.seen.fetch_add(1, Ordering::SeqCst);
    let status = match state.behaviour {
        Behaviour::Accept => Some(StatusCode::NO_CONTENT),
        Behaviour::FailFirst(fails) if n < fails => Some(StatusCode::INTERNAL_SERVER_ERROR),
        Behaviour::FailFirst(_) => Some(StatusCode::NO_CONTENT),
        Behaviour::Hang => None,
        Behaviour::HangUntilTold if state.accepting.load(Ordering::SeqCst) => {
            Some(StatusCode::NO_CONTENT)
        }
        Behaviour::HangUntilTold => None,
    };
    state
        .received
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Received {
            headers,
            body,
            at: Instant::now(),
            at_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            status: status.map(|s| s.as_u16()),
        });
    match status {
        Some(status) => status,
        None => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::NO_CONTENT
        }
    }
}
