//! What one connection may hold of the HTTP server: how many connections
//! the server and each client address keep open, how long a client has to
//! send a request's head, how long a connection may sit idle between
//! requests, and an error body in JSON also where hyper itself answers.
//!
//! - **Caps.** At most `max_connections` in all and `max_per_client` from
//!   one address (an IPv4 address, or an IPv6 /64; trusted proxies are not
//!   counted, since they carry many clients). A connection over a cap is
//!   still accepted, up to [`OVERFLOW`] more, and served one request:
//!   `/healthz` and `/readyz` are answered as ever, so an orchestrator
//!   does not restart a process that is merely full, and anything else
//!   gets 503 `unavailable` (server full) or 429 `rate_limited` (address
//!   full), with `Retry-After: 1`, and is closed. Beyond the overflow, a
//!   connection is closed as soon as it is accepted.
//! - **Timeouts.** A connection's phase decides its deadline: from the
//!   accept, or from the first byte after an idle spell, the head must be
//!   in within `header_timeout`; between requests, the connection is
//!   closed after `idle_timeout`; while a request runs (a long wait
//!   window included), none, as its body has a timeout of its own
//!   ([`crate::request_limits`]). hyper's own header timer is off: it
//!   runs from the end of the last response, so it would make the idle
//!   timeout and the header timeout one.
//! - **hyper's own answers.** A request line or header hyper cannot parse,
//!   or a head over its buffer, is answered by hyper before any router
//!   sees the request, with an empty body. [`ServerIo`] sees hyper write
//!   such a head (a 4xx with `content-length: 0` while no request of the
//!   connection is being answered) and writes the JSON error of the same
//!   status in its place.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::rate_limit::{TrustedProxies, limit_key};

/// Connections accepted beyond a cap, to answer health checks and say
/// why the rest is refused.
pub const OVERFLOW: usize = 64;

/// The caps and timeouts of [`Connections`].
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_per_client: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub proxies: TrustedProxies,
}

/// Open files kept free of connections: Redis, the object store, staged
/// uploads, converter pipes, and the overflow.
const RESERVED_FILES: u64 = 256 + OVERFLOW as u64;

/// The caps and timeouts the settings give. The open-file limit is raised
/// to its hard maximum first, and the connection cap lowered to what it
/// leaves room for: a process out of file descriptors can accept nothing,
/// not even a health check.
pub fn limits(settings: &crate::settings::LimitSettings) -> ConnectionLimits {
    let files = raise_open_file_limit();
    let room = files.map_or(u64::MAX, |files| {
        files.saturating_sub(RESERVED_FILES).max(files / 2)
    });
    let max_connections = settings.max_connections.min(room);
    if max_connections < settings.max_connections {
        tracing::warn!(
            configured = settings.max_connections,
            open_file_limit = files,
            max_connections,
            "the open-file limit leaves room for fewer connections than AVATARS_MAX_CONNECTIONS; raise the limit (ulimit -n) to allow more"
        );
    }
    ConnectionLimits {
        max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        max_per_client: usize::try_from(settings.max_connections_per_client).unwrap_or(usize::MAX),
        header_timeout: Duration::from_secs(settings.header_timeout_secs),
        idle_timeout: Duration::from_secs(settings.idle_timeout_secs),
        proxies: TrustedProxies(settings.trusted_proxies.clone()),
    }
}

/// Raises the soft open-file limit to the hard one; the limit after, if
/// there is one.
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => limit = raised,
            Err(e) => tracing::debug!(error = %e, "cannot raise the open-file limit"),
        }
    }
    limit.current
}

/// The connections the server holds.
pub struct Connections {
    limits: ConnectionLimits,
    open: AtomicUsize,
    overflow: AtomicUsize,
    by_client: Mutex<HashMap<IpAddr, usize>>,
    /// The served connections, by slot, for eviction.
    served: Mutex<HashMap<u64, Weak<ConnState>>>,
    next_slot: AtomicU64,
}

/// What becomes of an accepted connection.
pub enum Admission {
    /// Served as usual.
    Served(Slot),
    /// Over a cap: health routes answered, anything else refused with
    /// this error; one request, then closed.
    Overflow(Slot, Refusal),
    /// Over a cap and the overflow: closed at once.
    Closed,
}

/// Which cap an overflow connection is over.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    ServerFull,
    ClientFull { limit: usize },
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::ServerFull => ApiError::ServerFull,
            Refusal::ClientFull { limit } => ApiError::TooManyConnections { limit },
        }
    }
}

/// A place among the connections, given back when dropped.
pub struct Slot {
    connections: Arc<Connections>,
    id: u64,
    /// The address counted, for a served connection that is not a proxy's.
    client: Option<IpAddr>,
    overflow: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.overflow {
            self.connections.overflow.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        self.connections.open.fetch_sub(1, Ordering::Relaxed);
        lock(&self.connections.served).remove(&self.id);
        if let Some(client) = self.client {
            let mut by_client = lock(&self.connections.by_client);
            if let Some(n) = by_client.get_mut(&client) {
                *n -= 1;
                if *n == 0 {
                    by_client.remove(&client);
                }
            }
        }
    }
}

impl Connections {
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: AtomicUsize::new(0),
            overflow: AtomicUsize::new(0),
            by_client: Mutex::new(HashMap::new()),
            served: Mutex::new(HashMap::new()),
            next_slot: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// Connections served as usual now open.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Admits a connection from `peer` whose state is `state`, or says
    /// which cap it is over. With the server full, the connection that has
    /// waited longest for a request, at least [`EVICTABLE_AFTER`], is
    /// closed to make room: a flood of idle connections then churns
    /// through itself, and a client that sends its request at once (a
    /// health probe) is served.
    pub fn admit(self: &Arc<Self>, peer: IpAddr, state: &Arc<ConnState>) -> Admission {
        let client = (!self.limits.proxies.is_trusted(peer)).then(|| limit_key(peer));
        let refusal = {
            let mut by_client = lock(&self.by_client);
            let from_client = client.map_or(0, |c| by_client.get(&c).copied().unwrap_or(0));
            if from_client >= self.limits.max_per_client {
                Refusal::ClientFull {
                    limit: self.limits.max_per_client,
                }
            } else if self.open.load(Ordering::Relaxed) >= self.limits.max_connections
                && !self.evict_one()
            {
                Refusal::ServerFull
            } else {
                self.open.fetch_add(1, Ordering::Relaxed);
                if let Some(client) = client {
                    *by_client.entry(client).or_default() += 1;
                }
                let id = self.next_slot.fetch_add(1, Ordering::Relaxed);
                lock(&self.served).insert(id, Arc::downgrade(state));
                return Admission::Served(Slot {
                    connections: self.clone(),
                    id,
                    client,
                    overflow: false,
                });
            }
        };
        if self.overflow.fetch_add(1, Ordering::Relaxed) >= OVERFLOW {
            self.overflow.fetch_sub(1, Ordering::Relaxed);
            return Admission::Closed;
        }
        Admission::Overflow(
            Slot {
                connections: self.clone(),
                id: u64::MAX,
                client: None,
                overflow: true,
            },
            refusal,
        )
    }

    /// Closes the served connection that has waited longest for a
    /// request, if one has waited [`EVICTABLE_AFTER`]; whether one was.
    fn evict_one(&self) -> bool {
        let served = lock(&self.served);
        let oldest = served
            .values()
            .filter_map(Weak::upgrade)
            .filter_map(|state| Some((state.waiting_since()?, state)))
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((since, state)) if since.elapsed() >= EVICTABLE_AFTER => {
                state.evict();
                true
            }
            _ => false,
        }
    }
}

/// How long a connection must have waited for a request before a new one
/// may take its place on a full server.
pub const EVICTABLE_AFTER: Duration = Duration::from_millis(500);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Marks a time as unset.
const NONE: u64 = u64::MAX;

/// Where one connection is, shared by its [`ServerIo`], its requests and
/// the task that serves it.
pub struct ConnState {
    epoch: Instant,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// Requests handed to the router.
    started: AtomicU64,
    /// Requests whose response has been sent, or given up.
    finished: AtomicU64,
    /// Milliseconds from `epoch` at which a head began to come: the
    /// accept, or the first byte after an idle spell; [`NONE`] while idle
    /// or in a request.
    head_since: AtomicU64,
    /// Milliseconds from `epoch` at which the last response ended.
    idle_since: AtomicU64,
    /// Closed to make room on a full server, once no request runs.
    evicted: AtomicBool,
    /// Woken when the deadline may have come closer.
    changed: Notify,
}

impl ConnState {
    pub fn new(header_timeout: Duration, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            header_timeout,
            idle_timeout,
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            changed: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn in_request(&self) -> bool {
        self.started.load(Ordering::Acquire) > self.finished.load(Ordering::Acquire)
    }

    /// A request's head is in and goes to the router; the guard marks its
    /// end when dropped (with its response's body, or unanswered).
    pub fn request(self: &Arc<Self>) -> RequestGuard {
        self.started.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NONE, Ordering::Release);
        RequestGuard(self.clone())
    }

    /// When the connection is to be closed, `None` while a request runs.
    pub fn deadline(&self) -> Option<Instant> {
        if self.in_request() {
            return None;
        }
        if self.evicted.load(Ordering::Acquire) {
            return Some(self.epoch);
        }
        let at = |ms: u64, timeout: Duration| self.epoch + Duration::from_millis(ms) + timeout;
        Some(match self.head_since.load(Ordering::Acquire) {
            NONE => at(self.idle_since.load(Ordering::Acquire), self.idle_timeout),
            since => at(since, self.header_timeout),
        })
    }

    /// Since when the connection has waited for a request's head: `None`
    /// while one runs, or once it is evicted.
    fn waiting_since(&self) -> Option<Instant> {
        if self.in_request() || self.evicted.load(Ordering::Acquire) {
            return None;
        }
        let ms = match self.head_since.load(Ordering::Acquire) {
            NONE => self.idle_since.load(Ordering::Acquire),
            since => since,
        };
        Some(self.epoch + Duration::from_millis(ms))
    }

    /// Closes the connection as soon as no request of it runs.
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// Waits until the deadline may have moved closer.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    fn bytes_read(&self) {
        if self.head_since.load(Ordering::Acquire) == NONE && !self.in_request() {
            self.head_since.store(self.now_ms(), Ordering::Release);
            self.changed.notify_one();
        }
    }
}

/// One request of a connection, from its head to the end of its response.
pub struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let state = &self.0;
        state.idle_since.store(state.now_ms(), Ordering::Release);
        state.finished.fetch_add(1, Ordering::AcqRel);
        state.changed.notify_one();
    }
}

pin_project! {
    /// A connection's socket as hyper sees it: it notes when bytes come
    /// in, for the timeouts, and puts a JSON body on the error answers
    /// that hyper writes itself.
    pub struct ServerIo<S> {
        #[pin]
        inner: S,
        state: Arc<ConnState>,
        // Requests whose response has begun to be written.
        answered: u64,
        max_header_bytes: u64,
        // The JSON answer written in place of hyper's, with how much of
        // it is out and how long hyper's was.
        replacement: Option<(Vec<u8>, usize, usize)>,
    }
}

impl<S> ServerIo<S> {
    pub fn new(inner: S, state: Arc<ConnState>, max_header_bytes: u64) -> Self {
        Self {
            inner,
            state,
            answered: 0,
            max_header_bytes,
            replacement: None,
        }
    }
}

/// The error of an answer hyper wrote itself: a whole 4xx head with
/// `content-length: 0` and nothing after it.
fn hypers_own_error(buf: &[u8], max_header_bytes: u64) -> Option<ApiError> {
    let rest = buf
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    let status = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    let status = StatusCode::from_u16(status).ok()?;
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = buf.get(..end)?;
    let empty = head
        .windows(b"\r\ncontent-length: 0\r\n".len())
        .any(|w| w.eq_ignore_ascii_case(b"\r\ncontent-length: 0\r\n"));
    if !status.is_client_error() || !empty || end != buf.len() {
        return None;
    }
    Some(match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::HeadTooLarge {
            limit: max_header_bytes,
        },
        StatusCode::URI_TOO_LONG => ApiError::UriTooLong,
        _ => ApiError::MalformedHttp,
    })
}

impl<S: AsyncRead> AsyncRead for ServerIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        ready!(this.inner.poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.state.bytes_read();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite> AsyncWrite for ServerIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut this = self.project();
        if this.replacement.is_none() {
            let started = this.state.started.load(Ordering::Acquire);
            if started > *this.answered {
                // The first bytes of the router's answer.
                *this.answered = started;
            } else if let Some(error) = hypers_own_error(buf, *this.max_header_bytes) {
                *this.replacement = Some((error.raw_response(), 0, buf.len()));
            }
        }
        let Some((bytes, written, swallowed)) = this.replacement.as_mut() else {
            return this.inner.poll_write(cx, buf);
        };
        while *written < bytes.len() {
            let n = ready!(this.inner.as_mut().poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        // hyper's answer counts as written; the connection closes after it.
        Poll::Ready(Ok(*swallowed))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    // Not vectored: hyper then writes each head in one piece, which
    // `hypers_own_error` needs to see whole.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_client: usize, proxies: &[&str]) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: max,
            max_per_client: per_client,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            proxies: TrustedProxies(proxies.iter().map(|p| p.parse().expect("range")).collect()),
        }
    }

    impl Connections {
        fn admit_new(self: &Arc<Self>, peer: IpAddr) -> Admission {
            let state = ConnState::new(Duration::from_secs(1), Duration::from_secs(1));
            // Kept alive as long as the test runs, waiting for a head.
            let admission = self.admit(peer, &state);
            std::mem::forget(state);
            admission
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn caps_count_per_address_and_in_all_and_give_back_on_drop() {
        let connections = Connections::new(limits(5, 2, &["10.0.0.1"]));
        let a1 = connections.admit_new(ip("192.0.2.1"));
        let a2 = connections.admit_new(ip("192.0.2.1"));
        assert!(matches!(a1, Admission::Served(_)) && matches!(a2, Admission::Served(_)));
        assert!(matches!(
            connections.admit_new(ip("192.0.2.1")),
            Admission::Overflow(_, Refusal::ClientFull { limit: 2 })
        ));
        // Rotating within a /64 does not escape the per-address cap.
        let v6a = connections.admit_new(ip("2001:db8::1"));
        let v6b = connections.admit_new(ip("2001:db8::2"));
        assert!(matches!(v6b, Admission::Served(_)) && matches!(v6a, Admission::Served(_)));
        assert!(matches!(
            connections.admit_new(ip("2001:db8::3")),
            Admission::Overflow(_, Refusal::ClientFull { .. })
        ));
        assert_eq!(connections.open(), 4);
        let proxy = connections.admit_new(ip("10.0.0.1"));
        assert!(matches!(proxy, Admission::Served(_)));
        assert!(matches!(
            connections.admit_new(ip("10.0.0.1")),
            Admission::Overflow(_, Refusal::ServerFull)
        ));
        drop(a1);
        let a3 = connections.admit_new(ip("192.0.2.1"));
        assert!(matches!(a3, Admission::Served(_)));
        let overflow: Vec<_> = (0..OVERFLOW)
            .map(|_| connections.admit_new(ip("192.0.2.9")))
            .collect();
        assert!(
            overflow
                .iter()
                .all(|a| matches!(a, Admission::Overflow(..)))
        );
        assert!(matches!(
            connections.admit_new(ip("192.0.2.9")),
            Admission::Closed
        ));
        drop(overflow);
        assert!(matches!(
            connections.admit_new(ip("192.0.2.9")),
            Admission::Overflow(..)
        ));
    }

    #[test]
    fn a_full_server_closes_the_connection_that_waited_longest_to_make_room() {
        let connections = Connections::new(limits(2, 10, &[]));
        let old = ConnState::new(Duration::from_secs(9), Duration::from_secs(9));
        let older = ConnState {
            epoch: Instant::now() - Duration::from_secs(2),
            ..Arc::into_inner(ConnState::new(
                Duration::from_secs(9),
                Duration::from_secs(9),
            ))
            .expect("one owner")
        };
        let older = Arc::new(older);
        let busy = Arc::new(ConnState {
            epoch: Instant::now() - Duration::from_secs(3),
            ..Arc::into_inner(ConnState::new(
                Duration::from_secs(9),
                Duration::from_secs(9),
            ))
            .expect("one owner")
        });
        let _request = busy.request();
        let _a = connections.admit(ip("192.0.2.1"), &busy);
        let _b = connections.admit(ip("192.0.2.2"), &older);
        let _c = connections.admit(ip("192.0.2.3"), &old);
        assert!(
            matches!(_c, Admission::Served(_)),
            "the older idle one made room"
        );
        assert!(older.deadline().is_some_and(|d| d <= Instant::now()));
        assert_eq!(
            busy.deadline(),
            None,
            "a connection in a request is never evicted"
        );
        // Nothing else has waited long enough.
        assert!(matches!(
            connections.admit_new(ip("192.0.2.4")),
            Admission::Overflow(_, Refusal::ServerFull)
        ));
    }

    #[test]
    fn a_proxy_is_not_held_to_the_per_address_cap() {
        let connections = Connections::new(limits(10, 1, &["10.0.0.0/8"]));
        let held: Vec<_> = (0..5)
            .map(|_| connections.admit_new(ip("10.1.2.3")))
            .collect();
        assert!(held.iter().all(|a| matches!(a, Admission::Served(_))));
    }

    #[test]
    fn only_hypers_own_empty_4xx_heads_are_replaced() {
        let own = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert!(matches!(
            hypers_own_error(own, 16),
            Some(ApiError::HeadTooLarge { limit: 16 })
        ));
        let bad = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        assert!(matches!(
            hypers_own_error(bad, 16),
            Some(ApiError::MalformedHttp)
        ));
        for other in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
            b"\xff\xd8\xff\xe0 a JPEG",
        ] {
            assert!(hypers_own_error(other, 16).is_none());
        }
    }

    #[test]
    fn a_connection_has_a_deadline_only_between_requests() {
        let state = ConnState::new(Duration::from_secs(2), Duration::from_secs(5));
        let head_by = state.deadline().expect("a new connection owes a head");
        assert!(head_by <= state.epoch + Duration::from_secs(2));
        let request = state.request();
        assert_eq!(state.deadline(), None);
        drop(request);
        let idle_by = state.deadline().expect("idle");
        assert!(idle_by >= state.epoch + Duration::from_secs(5));
        state.bytes_read();
        assert!(state.deadline().expect("a head is coming") < idle_by);
    }
}
