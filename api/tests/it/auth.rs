//! Who may do what: bearer tokens, `me`, and the admin scope.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{now, token_with};
use crate::support::{TestApp, images};

async fn put_with_token(app: &TestApp, user: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .put(app.url(&format!("/api/public/user/{user}/avatarBytes")))
        .body(images::jpeg(64, 64));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.send().await.expect("request failed")
}

async fn assert_unauthenticated(response: reqwest::Response, case: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    assert_eq!(response.headers()["www-authenticate"], "Bearer", "{case}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthenticated", "{case}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{case}"
    );
}

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused_with_401() {
    let app = TestApp::spawn().await;
    let claims = json!({"sub": "alice", "exp": now() + 3600});
    let good = app.token("alice");
    let (head, rest) = good.split_once('.').expect("a jwt");
    let tampered = format!("{head}.{}", rest.replacen('.', ".x", 1));
    let expired = token_with(json!({"sub": "alice", "exp": now() - 3600}));
    let no_exp = token_with(json!({"sub": "alice"}));
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let other_key = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"some-other-secret-of-some-length"),
    )
    .expect("sign");
    let hs384 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(crate::support::app::SECRET.as_bytes()),
    )
    .expect("sign");

    assert_unauthenticated(put_with_token(&app, "alice", None).await, "no token").await;
    for (case, token) in [
        ("garbage", "not-a-jwt"),
        ("tampered", tampered.as_str()),
        ("expired", expired.as_str()),
        ("without exp", no_exp.as_str()),
        ("alg none", unsigned.as_str()),
        ("another key", other_key.as_str()),
        ("another algorithm", hs384.as_str()),
    ] {
        assert_unauthenticated(put_with_token(&app, "alice", Some(token)).await, case).await;
    }
    let basic = app
        .client
        .get(app.url("/api/public/user/alice/avatar"))
        .header("authorization", "Basic YWxpY2U6cHc=")
        .send()
        .await
        .expect("request failed");
    assert_unauthenticated(basic, "basic auth").await;
    let jobs = app
        .client
        .get(app.url("/api/public/jobs/01J9Z3G6TQ5V8X2M4N7P0R1S2T"))
        .send()
        .await
        .expect("request failed");
    assert_unauthenticated(jobs, "jobs without token").await;
}

#[tokio::test]
async fn changing_another_users_avatar_needs_the_admin_scope() {
    let app = TestApp::spawn().await;
    let response = app
        .put_bytes("mallory", "alice", "", images::jpeg(64, 64))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "forbidden");
    let url_put = app
        .put_url("mallory", "alice", "", "http://127.0.0.1:1/x.png")
        .await;
    assert_eq!(url_put.status(), StatusCode::FORBIDDEN);
    let file_put = app.put_file("mallory", "alice", images::jpeg(64, 64)).await;
    assert_eq!(file_put.status(), StatusCode::FORBIDDEN);

    let admin = app
        .client
        .put(app.url("/api/public/user/alice/avatarBytes"))
        .bearer_auth(app.admin_token("root"))
        .body(images::jpeg(64, 64))
        .send()
        .await
        .expect("request failed");
    assert_eq!(admin.status(), StatusCode::OK);
    let current = app.get_avatar("mallory", "alice").await;
    assert_eq!(current.status(), StatusCode::OK);
}

#[tokio::test]
async fn user_ids_that_are_not_well_formed_are_refused_with_400() {
    let app = TestApp::spawn().await;
    let long = "x".repeat(65);
    for user in ["a.b", long.as_str(), "a%2Fb", "a%20b"] {
        let response = app.get_avatar("alice", user).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{user}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "invalid_request", "{user}");
    }
    let response = app.put_bytes("alice", "a.b", "", images::jpeg(8, 8)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn health_and_readiness_need_no_token() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let response = app
            .client
            .get(app.url(path))
            .send()
            .await
            .expect("request failed");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

/// Runs `avatar-api token ARGS` with the test key and returns its status,
/// standard output and standard error.
fn token_command(args: &[&str], secret: Option<&str>) -> (bool, String, String) {
    let mut command = std::process::Command::new(crate::support::app::api_binary());
    command
        .arg("token")
        .args(args)
        .env_remove("AVATARS_JWT_SECRET");
    if let Some(secret) = secret {
        command.env("AVATARS_JWT_SECRET", secret);
    }
    let out = command.output().expect("avatar-api runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_token_command_prints_tokens_the_service_accepts() {
    let app = TestApp::spawn().await;
    let secret = Some(crate::support::app::SECRET);

    let (ok, alice, _) = token_command(&["alice"], secret);
    assert!(ok);
    let own = put_with_token(&app, "alice", Some(&alice)).await;
    assert_eq!(own.status(), StatusCode::OK);
    let other = put_with_token(&app, "bob", Some(&alice)).await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);

    let (ok, admin, _) = token_command(&["root", "--admin", "--expires-in-secs", "60"], secret);
    assert!(ok);
    let any = put_with_token(&app, "bob", Some(&admin)).await;
    assert_eq!(any.status(), StatusCode::OK);

    // Signed with another secret: the service refuses it.
    let (ok, forged, _) = token_command(&["alice"], Some("another-secret-0123456789"));
    assert!(ok);
    assert_unauthenticated(
        put_with_token(&app, "alice", Some(&forged)).await,
        "another key",
    )
    .await;

    let (ok, out, err) = token_command(&["alice"], None);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("AVATARS_JWT_SECRET"), "{err}");
    let (ok, _, err) = token_command(&["not a user"], secret);
    assert!(!ok && err.contains("user id"), "{err}");
}
