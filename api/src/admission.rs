//! Admission of the PUT routes, decided from the request's head: who the
//! caller is (the token is verified once here and handed to the handler as
//! its [`Caller`]) and whether the per-address and per-user rate limits let
//! the request in.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{Caller, bearer_token};
use crate::rate_limit::RateLimits;
use crate::state::AppState;

/// What the admission middleware needs.
#[derive(Clone)]
pub struct Admission {
    pub app: Arc<AppState>,
    pub limits: Arc<RateLimits>,
}

/// Middleware for the PUT routes: the per-address limit counts every PUT;
/// the per-user limit counts the PUTs whose caller may change the avatar
/// of the user in the path, keyed by that user, so requests that will be
/// refused (401, 403, 400) cost nobody else their quota.
pub async fn limit_puts(
    State(admission): State<Admission>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::PUT {
        return next.run(request).await;
    }
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>()
        && let Err(e) = admission.limits.check_client(peer.ip(), request.headers())
    {
        return e.into_response();
    }
    let caller = bearer_token(request.headers()).and_then(|t| admission.app.verifier.verify(t));
    if let Ok(caller) = caller {
        let target = params
            .iter()
            .find(|(name, _)| *name == "user_id")
            .and_then(|(_, segment)| caller.may_act_on(segment).ok());
        if let Some(user) = target
            && let Err(e) = admission.limits.check_user(&user)
        {
            return e.into_response();
        }
        request.extensions_mut().insert::<Caller>(caller);
    }
    next.run(request).await
}
