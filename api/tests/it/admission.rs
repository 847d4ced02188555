//! PUTs are judged from their head: a caller who may not change the avatar
//! it names is refused before a byte of the body is read, and the refusal
//! costs that caller's own rate-limit quota.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::{TestApp, images};

/// The PUT routes, each taking a body.
const PUT_ROUTES: [&str; 3] = ["avatarBytes", "updateAvatarFile", "avatar"];

/// Reads from `stream` until the answer's head and the start of its body
/// have arrived, or `within` has passed; returns what came.
async fn read_answer(stream: &mut TcpStream, within: Duration) -> String {
    let mut read = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&read).contains("}}") {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => read.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&read).into_owned()
}

#[tokio::test]
async fn a_put_for_another_users_avatar_is_refused_before_its_body_is_sent() {
    let app = TestApp::spawn().await;
    let address = app.address.trim_start_matches("http://");
    for route in PUT_ROUTES {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        // A 25 MiB body announced, none of it sent: the client waits for
        // 100 Continue, which a refused request must never get.
        let head = format!(
            "PUT /api/public/user/bob/{route} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/octet-stream\r\nContent-Length: 26214400\r\nExpect: 100-continue\r\n\r\n",
            app.token("alice")
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{route}: {answer}");
        assert!(!answer.contains("100 Continue"), "{route}: {answer}");
        assert!(answer.contains("\"forbidden\""), "{route}: {answer}");
    }
}

#[tokio::test]
async fn a_put_without_a_valid_token_is_refused_before_its_body_is_sent() {
    let app = TestApp::spawn().await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"PUT /api/public/user/me/avatarBytes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-token\r\nContent-Length: 26214400\r\nExpect: 100-continue\r\n\r\n")
        .await
        .expect("write");
    let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
}

#[tokio::test]
async fn refused_puts_spend_the_callers_own_quota_and_nobody_elses() {
    let app = TestApp::builder()
        .env("AVATARS_USER_RATE_PER_MINUTE", "1")
        .env("AVATARS_USER_RATE_BURST", "2")
        .start()
        .await;
    let refused: Vec<StatusCode> = futures::future::join_all(
        (0..3).map(|_| app.put_bytes("mallory", "bob", "?wait=0", images::jpeg(16, 16))),
    )
    .await
    .iter()
    .map(reqwest::Response::status)
    .collect();
    let mut sorted = refused.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            StatusCode::FORBIDDEN,
            StatusCode::FORBIDDEN,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "{refused:?}"
    );
    // Bob's own quota is untouched by what mallory tried on his avatar.
    for _ in 0..2 {
        let own = app
            .put_bytes("bob", "bob", "?wait=0", images::jpeg(16, 16))
            .await;
        assert_eq!(own.status(), StatusCode::ACCEPTED);
    }
}
