//! `GET /try`: one small page to try the service by hand (on with
//! `AVATARS_TRY_PAGE=true`). Its HTML, script and style are built into the
//! binary and served under `/try`, with a content security policy that
//! lets the page reach this service alone (and show avatars from wherever
//! they are stored). With `AVATARS_TRY_PAGE_DEV_TOKENS=true`, `POST
//! /try/token` also hands out a token for a made-up user, for an hour: a
//! demonstration aid that gives anyone a user, never for a deployment
//! with real users.
//!
//! These are a page's files, not operations of the API, so they are not in
//! the OpenAPI document, as Swagger UI's are not.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::auth::make_token;
use crate::error::ApiError;
use crate::settings::{AuthSettings, TokenArgs};

const PAGE: &str = include_str!("try_page/index.html");
const SCRIPT: &str = include_str!("try_page/try.js");
const STYLE: &str = include_str!("try_page/try.css");

/// How long a made-up user's token lasts.
const DEV_TOKEN_SECS: u64 = 3600;

/// What the page needs: the key to sign made-up users' tokens with, when
/// it may.
#[derive(Clone)]
pub struct TryPage {
    /// `Some` with `AVATARS_TRY_PAGE_DEV_TOKENS=true`.
    pub dev_tokens: Option<Arc<AuthSettings>>,
}

impl TryPage {
    /// The page's routes.
    pub fn routes<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        let page = PAGE.replace(
            "DEV_TOKENS",
            if self.dev_tokens.is_some() {
                "true"
            } else {
                "false"
            },
        );
        let mut routes = Router::new()
            .route(
                "/try",
                get(move || async move { file("text/html; charset=utf-8", page) }),
            )
            .route(
                "/try/try.js",
                get(|| async { file("text/javascript; charset=utf-8", SCRIPT.to_owned()) }),
            )
            .route(
                "/try/try.css",
                get(|| async { file("text/css; charset=utf-8", STYLE.to_owned()) }),
            );
        if let Some(auth) = self.dev_tokens {
            routes = routes.route("/try/token", post(dev_token).with_state(auth));
        }
        routes
    }
}

/// One of the page's files. The policy keeps its scripts, styles and
/// requests to this service; avatars may come from a CDN or a bucket, and
/// the preview and placeholders are `blob:` and `data:` URLs.
fn file(content_type: &'static str, body: String) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "no-cache"),
            (
                CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                 img-src * blob: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// `POST /try/token`: a token for a new made-up user.
async fn dev_token(State(auth): State<Arc<AuthSettings>>) -> Result<Response, ApiError> {
    let user = format!(
        "try-{}",
        avatar_common::request_id::RequestId::generate()
            .as_str()
            .to_ascii_lowercase()
    );
    let args = TokenArgs {
        user: user.clone(),
        admin: false,
        expires_in_secs: DEV_TOKEN_SECS,
    };
    let token = make_token(&auth, &args).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(
        axum::Json(json!({ "token": token, "userId": user, "expiresIn": DEV_TOKEN_SECS }))
            .into_response(),
    )
}
