//! Request ids: every request gets one, the client's own `X-Request-Id`
//! when it is a sane token ([`RequestId`]), else a new one. The middleware
//! puts it in the request's headers, where the handlers and the log span
//! read it, and answers it on every response; a job made by the request
//! carries it to the worker's log lines.

use avatar_common::RequestId;
use avatar_common::request_id::REQUEST_ID_HEADER;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The request's id, as [`assign`] left it in its headers.
pub fn of(headers: &HeaderMap) -> Option<RequestId> {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Middleware, outermost: gives the request its id and answers it.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = of(request.headers()).unwrap_or_else(RequestId::generate);
    // A sane id is a valid header value.
    let value = HeaderValue::from_str(id.as_str()).expect("a request id is a header value");
    request
        .headers_mut()
        .insert(REQUEST_ID_HEADER, value.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID_HEADER, value);
    response
}
