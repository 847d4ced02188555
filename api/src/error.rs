//! `ApiError`: every error the API answers with, and the one place they
//! become HTTP responses. 4xx messages say what to fix; 5xx messages say
//! nothing internal, and the cause goes to the log.

use avatar_common::JobFailure;
use avatar_common::jobs::FailureCode;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The most headers a request may carry (hyper's own bound).
pub const MAX_HEADERS: usize = 100;

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The route exists, but not with this method.
    #[error("this route does not take that method; see the API documentation for the routes")]
    MethodNotAllowed,
    #[error("the body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// An import with more items than allowed.
    #[error("an import may hold at most {limit} items; split the list into several imports")]
    TooManyItems { limit: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A job that ended in failure.
    #[error("{}", .0.message)]
    Job(JobFailure),
    /// The HTTP server could not read the request's line or headers.
    #[error(
        "the request is not well-formed HTTP/1.1: its request line or a header (such as Content-Length or Transfer-Encoding) cannot be read"
    )]
    MalformedHttp,
    /// The HTTP server met a request target longer than it reads.
    #[error("the request target is too long; shorten the URL")]
    UriTooLong,
    /// The HTTP server met a request head over its buffer or with too
    /// many headers.
    #[error(
        "the request head is over {limit} bytes or has more than {MAX_HEADERS} headers; send fewer or smaller headers"
    )]
    HeadTooLarge { limit: u64 },
    /// One client address holds as many connections as it may.
    #[error(
        "this address has {limit} connections open, the most one client may; reuse them or close some, then retry"
    )]
    TooManyConnections { limit: usize },
    /// A user has as many callback deliveries pending as one may.
    #[error(
        "{limit} webhook deliveries to your callbackUrls are still pending, the most one user may have; wait until your receiver has taken them, or send the request without callbackUrl"
    )]
    TooManyCallbacks { limit: u64 },
    /// The server holds as many connections as it takes.
    #[error("the service has as many connections open as it takes; retry in a moment")]
    ServerFull,
    /// The request head is larger than the limit.
    #[error("the request headers are larger than the limit of {limit} bytes")]
    HeadersTooLarge { limit: u64 },
    /// The client did not send the body in time.
    #[error("the request body did not arrive within {secs} seconds")]
    RequestTimeout { secs: u64 },
    /// A rate limit was reached.
    #[error("too many requests; retry in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// Redis or the object store is unreachable; the cause is logged.
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } | Self::TooManyItems { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Job(failure) => match failure.code {
                FailureCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                FailureCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                FailureCode::ImageRejected => StatusCode::UNPROCESSABLE_ENTITY,
                FailureCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            },
            Self::MalformedHttp => StatusCode::BAD_REQUEST,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge { .. } | Self::HeadTooLarge { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::RateLimited { .. }
            | Self::TooManyConnections { .. }
            | Self::TooManyCallbacks { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::ServerFull => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable error code of the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge { .. } | Self::TooManyItems { .. } => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Job(failure) => failure.code.as_str(),
            Self::MalformedHttp | Self::UriTooLong => "invalid_request",
            Self::HeadersTooLarge { .. } | Self::HeadTooLarge { .. } => "headers_too_large",
            Self::RequestTimeout { .. } => "request_timeout",
            Self::RateLimited { .. }
            | Self::TooManyConnections { .. }
            | Self::TooManyCallbacks { .. } => "rate_limited",
            Self::Unavailable(_) | Self::ServerFull => "unavailable",
        }
    }

    /// The error body: `{"error": {"code", "message"}}`.
    fn body(&self) -> crate::body::Error {
        crate::body::Error {
            error: crate::body::ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        }
    }

    /// The whole HTTP/1.1 response of this error, for where no router
    /// answers: the connection closes after it.
    pub fn raw_response(&self) -> Vec<u8> {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let status = self.status();
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    }

    /// Redis or the store failed; `cause` is logged, not shown.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        Self::Unavailable(cause.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Unavailable(cause) = &self {
            tracing::error!(%cause, "answering 503");
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        match self {
            Self::Unauthenticated(_) => {
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
            }
            Self::RateLimited { retry_after_secs } => {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(retry_after_secs),
                );
            }
            Self::RequestTimeout { .. } => {
                response.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            Self::TooManyConnections { .. } | Self::ServerFull => {
                let headers = response.headers_mut();
                headers.insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(1),
                );
                headers.insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<avatar_common::queue::QueueError> for ApiError {
    fn from(e: avatar_common::queue::QueueError) -> Self {
        Self::unavailable(e)
    }
}

impl From<avatar_common::storage::StorageError> for ApiError {
    fn from(e: avatar_common::storage::StorageError) -> Self {
        Self::unavailable(e)
    }
}
