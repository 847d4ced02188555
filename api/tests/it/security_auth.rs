//! Bearer tokens under public keys (RS256, ES256) and the claims checks:
//! the algorithm is bound to the configured key, `iss` and `aud` are
//! checked when set, and expiry has a bounded leeway. The keys are
//! test-only fixtures in tests/fixtures/jwt.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::app::{SECRET, now};

/// base64url of `{"alg":"none","typ":"JWT"}`.
const NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("a fixture key")
}

fn sign(algorithm: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    encode(&Header::new(algorithm), claims, key).expect("cannot sign a token")
}

fn rsa(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(&pem(name)).expect("an RSA private key")
}

fn ec() -> EncodingKey {
    EncodingKey::from_ec_pem(&pem("ec-private.pem")).expect("an EC private key")
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "exp": now() + 3600})
}

/// A token with the claims of `token` under an unsigned `none` header.
fn unsigned_copy(token: &str) -> String {
    let claims = token.split('.').nth(1).expect("a jwt");
    format!("{NONE_HEADER}.{claims}.")
}

/// An app that checks tokens against the public key in `file`.
async fn app_with_public_key(file: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut builder = TestApp::builder()
        .env("AVATARS_JWT_SECRET", "")
        .env("AVATARS_JWT_PUBLIC_KEY_FILE", &fixture(file));
    for (key, value) in extra {
        builder = builder.env(key, value);
    }
    builder.start().await
}

/// The status of `GET /user/me/avatar` with `token`: 404 (no avatar yet)
/// when the token is accepted, 401 when it is not.
async fn status_with(app: &TestApp, token: &str) -> StatusCode {
    let response = app
        .client
        .get(app.url("/api/public/user/me/avatar"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request failed");
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "unauthenticated", "{body}");
    }
    status
}

#[tokio::test]
async fn an_rs256_key_accepts_its_tokens_and_refuses_every_other_kind() {
    let app = app_with_public_key("rsa-public.pem", &[]).await;
    let good = sign(Algorithm::RS256, &rsa("rsa-private.pem"), &claims("ann"));
    assert_eq!(status_with(&app, &good).await, StatusCode::NOT_FOUND);

    let public_as_secret = EncodingKey::from_secret(&pem("rsa-public.pem"));
    let refused = [
        ("alg none", unsigned_copy(&good)),
        (
            "HS256 signed with the public key as the secret",
            sign(Algorithm::HS256, &public_as_secret, &claims("ann")),
        ),
        (
            "HS256 signed with the service's test secret",
            sign(
                Algorithm::HS256,
                &EncodingKey::from_secret(SECRET.as_bytes()),
                &claims("ann"),
            ),
        ),
        (
            "RS256 signed by another key",
            sign(
                Algorithm::RS256,
                &rsa("rsa-other-private.pem"),
                &claims("ann"),
            ),
        ),
        (
            "PS256 with the right key",
            sign(Algorithm::PS256, &rsa("rsa-private.pem"), &claims("ann")),
        ),
        (
            "RS512 with the right key",
            sign(Algorithm::RS512, &rsa("rsa-private.pem"), &claims("ann")),
        ),
        (
            "ES256 by another key type",
            sign(Algorithm::ES256, &ec(), &claims("ann")),
        ),
    ];
    for (case, token) in refused {
        assert_eq!(
            status_with(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "{case}"
        );
    }
}

#[tokio::test]
async fn an_es256_key_accepts_its_tokens_and_refuses_every_other_kind() {
    let app = app_with_public_key("ec-public.pem", &[]).await;
    let good = sign(Algorithm::ES256, &ec(), &claims("ben"));
    assert_eq!(status_with(&app, &good).await, StatusCode::NOT_FOUND);

    let public_as_secret = EncodingKey::from_secret(&pem("ec-public.pem"));
    for (case, token) in [
        ("alg none", unsigned_copy(&good)),
        (
            "HS256 signed with the public key as the secret",
            sign(Algorithm::HS256, &public_as_secret, &claims("ben")),
        ),
        (
            "RS256 by another key type",
            sign(Algorithm::RS256, &rsa("rsa-private.pem"), &claims("ben")),
        ),
    ] {
        assert_eq!(
            status_with(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "{case}"
        );
    }
}

#[tokio::test]
async fn an_hs256_secret_refuses_tokens_with_public_key_algorithms() {
    let app = TestApp::spawn().await;
    let secret = EncodingKey::from_secret(SECRET.as_bytes());
    let good = sign(Algorithm::HS256, &secret, &claims("cat"));
    assert_eq!(status_with(&app, &good).await, StatusCode::NOT_FOUND);
    for (case, token) in [
        ("alg none", unsigned_copy(&good)),
        (
            "RS256",
            sign(Algorithm::RS256, &rsa("rsa-private.pem"), &claims("cat")),
        ),
        ("ES256", sign(Algorithm::ES256, &ec(), &claims("cat"))),
    ] {
        assert_eq!(
            status_with(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "{case}"
        );
    }
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let app = app_with_public_key(
        "rsa-public.pem",
        &[
            ("AVATARS_JWT_ISSUER", "https://id.example.com"),
            ("AVATARS_JWT_AUDIENCE", "avatars"),
        ],
    )
    .await;
    let key = rsa("rsa-private.pem");
    let exp = now() + 3600;
    let with = |claims: Value| sign(Algorithm::RS256, &key, &claims);
    let good =
        with(json!({"sub": "dan", "exp": exp, "iss": "https://id.example.com", "aud": "avatars"}));
    assert_eq!(status_with(&app, &good).await, StatusCode::NOT_FOUND);
    let list_aud = with(
        json!({"sub": "dan", "exp": exp, "iss": "https://id.example.com", "aud": ["other", "avatars"]}),
    );
    assert_eq!(status_with(&app, &list_aud).await, StatusCode::NOT_FOUND);
    for (case, claims) in [
        (
            "no iss",
            json!({"sub": "dan", "exp": exp, "aud": "avatars"}),
        ),
        (
            "wrong iss",
            json!({"sub": "dan", "exp": exp, "iss": "https://evil.example.com", "aud": "avatars"}),
        ),
        (
            "no aud",
            json!({"sub": "dan", "exp": exp, "iss": "https://id.example.com"}),
        ),
        (
            "wrong aud",
            json!({"sub": "dan", "exp": exp, "iss": "https://id.example.com", "aud": "other"}),
        ),
    ] {
        assert_eq!(
            status_with(&app, &with(claims)).await,
            StatusCode::UNAUTHORIZED,
            "{case}"
        );
    }
}

#[tokio::test]
async fn expiry_is_forgiven_only_within_the_leeway() {
    let app = TestApp::builder()
        .env("AVATARS_JWT_LEEWAY_SECS", "30")
        .start()
        .await;
    let secret = EncodingKey::from_secret(SECRET.as_bytes());
    let expired_by = |secs: u64| {
        sign(
            Algorithm::HS256,
            &secret,
            &json!({"sub": "eve", "exp": now() - secs}),
        )
    };
    assert_eq!(
        status_with(&app, &expired_by(5)).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_with(&app, &expired_by(120)).await,
        StatusCode::UNAUTHORIZED
    );
    let not_yet = sign(
        Algorithm::HS256,
        &secret,
        &json!({"sub": "eve", "exp": now() + 3600, "nbf": now() + 600}),
    );
    assert_eq!(status_with(&app, &not_yet).await, StatusCode::UNAUTHORIZED);

    let strict = TestApp::builder()
        .env("AVATARS_JWT_LEEWAY_SECS", "0")
        .start()
        .await;
    assert_eq!(
        status_with(&strict, &expired_by(5)).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_secret_and_a_public_key_together_stop_the_start_up() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_avatar-api"))
        .env("AVATARS_JWT_SECRET", SECRET)
        .env("AVATARS_JWT_PUBLIC_KEY_FILE", fixture("rsa-public.pem"))
        .env("AVATARS_REDIS_URL", crate::support::app::redis_url())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("cannot run avatar-api");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("set only one"), "{stderr}");
}
