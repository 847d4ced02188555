//! Admission of the PUT routes, decided from the request's head before any
//! of its body is read: who the caller is (the token is verified once here
//! and handed to the handler as its [`Caller`]), whether it may change the
//! avatar it names, and whether the per-address and per-user rate limits
//! let the request in.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, RawPathParams, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{Caller, bearer_token};
use crate::error::ApiError;
use crate::rate_limit::RateLimits;
use crate::state::AppState;

/// What the admission middleware needs.
#[derive(Clone)]
pub struct Admission {
    pub app: Arc<AppState>,
    pub limits: Arc<RateLimits>,
}

/// Middleware for the PUT routes, run before a byte of the body is read
/// (so an `Expect: 100-continue` client is refused without sending it):
/// the per-address limit counts every PUT; then the caller must
/// authenticate (else 401) and may change only the avatar it may act on
/// (else 400 for a bad user id, 403 for another user's). The per-user
/// limit counts every authenticated PUT: an admitted one against the user
/// in the path, a refused one against the caller, so a caller spends its
/// own quota on refusals and no one else's.
pub async fn limit_puts(
    State(admission): State<Admission>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::PUT {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    match admit(&admission, &params, peer, request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert::<Caller>(caller);
            next.run(request).await
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// The caller of a PUT, if its head lets it in.
async fn admit(
    admission: &Admission,
    params: &RawPathParams,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let limits = &admission.limits;
    if let Some(peer) = peer {
        limits.check_client(peer, headers).await?;
    }
    let caller = admission.app.verifier.verify(bearer_token(headers)?)?;
    let segment = params
        .iter()
        .find(|(name, _)| *name == "user_id")
        .map_or("", |(_, segment)| segment);
    match caller.may_act_on(segment) {
        Ok(user) => {
            limits.check_user(&user).await?;
            Ok(caller)
        }
        Err(refusal) => {
            limits.check_user(&caller.user).await?;
            Err(refusal)
        }
    }
}
