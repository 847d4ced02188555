//! What one client's connections may hold of the API: the connection caps
//! (health still answered at them), the header and idle timeouts, and a
//! JSON body on the errors the HTTP server makes itself.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{TestApp, eventually, images, source_server};

/// A connection to `app` from the loopback address `from` (any of
/// 127.0.0.0/8), so that tests can be several clients.
async fn connect_from(app: &TestApp, from: &str) -> TcpStream {
    let to = app
        .address
        .trim_start_matches("http://")
        .parse()
        .expect("the API's address");
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{from}:0").parse().expect("address"))
        .expect("bind a loopback address");
    socket.connect(to).await.expect("connect")
}

/// An answer read whole from a connection the server closes after it.
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

/// Sends `request` on `stream` and reads until the server closes it.
async fn exchange(mut stream: TcpStream, request: &[u8]) -> Answer {
    stream.write_all(request).await.expect("write");
    let mut read = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut read))
        .await
        .expect("the server answered and closed within 20 s")
        .expect("read");
    let text = String::from_utf8_lossy(&read).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status: head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}")),
        head: head.to_ascii_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

fn get(path: &str, token: Option<&str>) -> Vec<u8> {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").into_bytes()
}

/// Whether the server closes `stream` within `within` without a word.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut read = Vec::new();
    matches!(
        tokio::time::timeout(within, stream.read_to_end(&mut read)).await,
        Ok(Ok(_))
    )
}

#[tokio::test]
async fn errors_the_http_server_makes_itself_have_the_json_error_shape() {
    let app = TestApp::spawn().await;
    let mut many_headers = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for n in 0..150 {
        many_headers += &format!("X-H{n}: v\r\n");
    }
    many_headers += "\r\n";
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(100_000)
    );
    let cases: [(&str, Vec<u8>, u16, &str); 5] = [
        (
            "150 headers",
            many_headers.into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            "a head over the buffer",
            huge_header.into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            "a Content-Length that is no number",
            b"POST /api/public/imports HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "a request line that is not HTTP",
            b"HELLO THERE\r\n\r\n".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "a header line without a colon",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_vec(),
            400,
            "invalid_request",
        ),
    ];
    for (case, request, status, code) in cases {
        let answer = exchange(connect_from(&app, "127.0.0.1").await, &request).await;
        assert_eq!(answer.status, status, "{case}: {}", answer.head);
        assert!(
            answer.head.contains("content-type: application/json"),
            "{case}: {}",
            answer.head
        );
        assert_eq!(
            answer.body["error"]["code"], code,
            "{case}: {}",
            answer.body
        );
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.len() > 20),
            "{case}: {}",
            answer.body
        );
    }
    // A keep-alive connection whose second request is malformed gets the
    // same shape after a good first answer.
    let mut stream = connect_from(&app, "127.0.0.1").await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nbroken\r\n\r\n")
        .await
        .expect("write");
    let mut read = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut read))
        .await
        .expect("closed")
        .expect("read");
    let text = String::from_utf8_lossy(&read);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let second = text.find("HTTP/1.1 400").expect("a 400 after the 200");
    assert!(text[second..].contains("\"invalid_request\""), "{text}");
}

#[tokio::test]
async fn one_address_over_its_connection_cap_is_refused_but_its_health_checks_are_not() {
    let app = TestApp::builder()
        .env("AVATARS_MAX_CONNECTIONS_PER_CLIENT", "10")
        .env("AVATARS_HEADER_TIMEOUT_SECS", "60")
        .start()
        .await;
    let token = app.token("carol");
    let avatar = "/api/public/user/carol/avatar";
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(connect_from(&app, "127.0.0.2").await);
    }
    let refused = exchange(
        connect_from(&app, "127.0.0.2").await,
        &get(avatar, Some(&token)),
    )
    .await;
    assert_eq!(refused.status, 429, "{}", refused.head);
    assert_eq!(refused.body["error"]["code"], "rate_limited");
    assert!(refused.head.contains("retry-after: 1"), "{}", refused.head);
    for path in ["/healthz", "/readyz"] {
        let health = exchange(connect_from(&app, "127.0.0.2").await, &get(path, None)).await;
        assert_eq!(health.status, 200, "{path}: {}", health.head);
    }
    // Another address is served as usual.
    let other = exchange(
        connect_from(&app, "127.0.0.3").await,
        &get(avatar, Some(&token)),
    )
    .await;
    assert_eq!(other.status, 404, "{}", other.head);
    // Connections closed give their places back.
    held.clear();
    answered_until(
        &app,
        "127.0.0.2",
        &get(avatar, Some(&token)),
        404,
        "the address to be served again once its connections closed",
    )
    .await;
}

/// Sends `request` from `from` on a new connection every 100 ms, for up
/// to 20 s, until it is answered `status`.
async fn answered_until(app: &TestApp, from: &str, request: &[u8], status: u16, waiting_for: &str) {
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(100),
        waiting_for,
        || async {
            let answer = exchange(connect_from(app, from).await, request).await;
            if answer.status == status {
                Ok(())
            } else {
                Err(format!("answered {} {}", answer.status, answer.body))
            }
        },
    )
    .await;
}

/// A connection from `from` inside a PUT whose body has not arrived: it
/// holds its place on the server as a running request does.
async fn busy_connection(app: &TestApp, from: &str, user: &str) -> TcpStream {
    let mut stream = connect_from(app, from).await;
    let head = format!(
        "PUT /api/public/user/{user}/avatarBytes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100000\r\n\r\n",
        app.token(user)
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
        .write_all(&images::jpeg(16, 16)[..10])
        .await
        .expect("write");
    stream
}

#[tokio::test]
async fn a_server_full_of_running_requests_still_answers_its_health_checks() {
    let app = TestApp::builder()
        .env("AVATARS_MAX_CONNECTIONS", "12")
        .env("AVATARS_BODY_TIMEOUT_SECS", "120")
        .start()
        .await;
    let mut held = Vec::new();
    for n in 0..12 {
        let from = if n < 8 { "127.0.0.4" } else { "127.0.0.5" };
        held.push(busy_connection(&app, from, &format!("busy-{n}")).await);
    }
    let token = app.token("carol");
    let avatar = "/api/public/user/carol/avatar";
    // The test client's own idle connection, if it has one, is closed to
    // make room for the first newcomer; then the server is full of
    // requests.
    answered_until(
        &app,
        "127.0.0.6",
        &get(avatar, Some(&token)),
        503,
        "a full server to refuse a request with 503",
    )
    .await;
    let full = exchange(
        connect_from(&app, "127.0.0.6").await,
        &get(avatar, Some(&token)),
    )
    .await;
    assert_eq!(full.status, 503, "{}", full.head);
    assert_eq!(full.body["error"]["code"], "unavailable", "{}", full.body);
    assert!(full.head.contains("retry-after: 1"), "{}", full.head);
    for path in ["/healthz", "/readyz"] {
        let health = exchange(connect_from(&app, "127.0.0.6").await, &get(path, None)).await;
        assert_eq!(health.status, 200, "{path}: {}", health.head);
    }
}

#[tokio::test]
async fn a_server_full_of_idle_connections_closes_the_oldest_to_serve_a_newcomer() {
    let app = TestApp::builder()
        .env("AVATARS_MAX_CONNECTIONS", "12")
        .env("AVATARS_HEADER_TIMEOUT_SECS", "60")
        .env("AVATARS_IDLE_TIMEOUT_SECS", "60")
        .start()
        .await;
    let mut held = Vec::new();
    for n in 0..12 {
        let from = if n < 6 { "127.0.0.2" } else { "127.0.0.3" };
        held.push(connect_from(&app, from).await);
    }
    let token = app.token("carol");
    let avatar = "/api/public/user/carol/avatar";
    // Once they have waited long enough to be closed for a newcomer, each
    // newcomer is served, and one idle connection goes.
    answered_until(
        &app,
        "127.0.0.6",
        &get(avatar, Some(&token)),
        404,
        "a newcomer to be served on a server full of idle connections",
    )
    .await;
    let mut closed = 0;
    for stream in &mut held {
        if closed_within(stream, Duration::from_millis(200)).await {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no idle connection was closed to make room");
    assert!(closed < 12, "every idle connection was closed");
}

#[tokio::test]
async fn idle_connections_and_slow_heads_are_closed_but_a_long_wait_is_not() {
    let app = TestApp::builder()
        .env("AVATARS_HEADER_TIMEOUT_SECS", "1")
        .env("AVATARS_IDLE_TIMEOUT_SECS", "1")
        .start()
        .await;

    // Nothing sent after the accept.
    let mut silent = connect_from(&app, "127.0.0.1").await;
    assert!(closed_within(&mut silent, Duration::from_secs(10)).await);

    // Half a head.
    let mut slow = connect_from(&app, "127.0.0.1").await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    assert!(closed_within(&mut slow, Duration::from_secs(10)).await);

    // A keep-alive connection, idle after its answer.
    let mut idle = connect_from(&app, "127.0.0.1").await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    assert!(closed_within(&mut idle, Duration::from_secs(10)).await);

    // A PUT that waits 3 s for a slow source, longer than both timeouts,
    // gets its answer.
    let origin = source_server::start(images::png(64, 64), Duration::from_secs(3)).await;
    let url = format!("{origin}/slow");
    let response = app.put_url("dave", "dave", "?wait=20", &url).await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
}
