//! [`ApiError`]: everything a handler can answer other than success, and the one place that turns
//! it into the right envelope (users `{"code": 1, "message"}`, video `{"error"}`) and status. An
//! unexpected failure is logged with its cause chain and answered opaquely.

use http::StatusCode;
use lambda_http::{Body, Response};

use super::FormError;
use super::response::{INTERNAL, user_error, video_error};
use crate::auth::{AuthError, bearer::INVALID_TOKEN};
use crate::domain::Invalid;
use crate::store::StoreError;

/// Which of the contract's two envelopes a route answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// `/api/v1/users/*`: `{"code": 0|1, "message", "data"?}`.
    Users,
    /// `/api/v1/video/*`: `{"code": 200, …}` or `{"error": "…"}`.
    Video,
}

impl Envelope {
    /// The envelope of the route family `path` belongs to.
    pub fn of_path(path: &str) -> Self {
        if path.starts_with("/api/v1/users/") {
            Envelope::Users
        } else {
            Envelope::Video
        }
    }

    /// An error answer in this envelope.
    pub fn error(self, status: StatusCode, message: &str) -> Response<Body> {
        match self {
            Envelope::Users => user_error(status, message),
            Envelope::Video => video_error(status, message),
        }
    }
}

/// What can go wrong in an endpoint, each with its status and client message.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with this message.
    BadRequest(String),
    /// The body could not be read, or a field is missing: 400.
    Form(FormError),
    /// 401 with this message.
    Unauthorized(&'static str),
    /// 403 with this message: this account may not do this (yet).
    Forbidden(String),
    /// 404 with this message: no such thing for this user (another user's answers the same).
    NotFound(String),
    /// 409 with this message: the thing is not in a state that allows this yet.
    Conflict(String),
    /// 410 with this message: what this needs is gone for good.
    Gone(String),
    /// 429 with this message: over an allowance or locked out; nothing was stored or spent.
    TooMany(String),
    /// 429 with this message and a `Retry-After` of this many seconds (at least 1): over a bound
    /// that ends at a known time; nothing was stored or spent.
    TooManyUntil { message: String, retry_after: u64 },
    /// 503 with this message: a service this needs (WeChat) cannot be reached or is not
    /// configured; nothing was stored.
    Unavailable(String),
    /// This status and message (WeChat's refusals, mapped where they are known).
    Status(StatusCode, String),
    /// 500; the cause goes to the log only.
    Internal(anyhow::Error),
}

impl ApiError {
    /// The answer for this error, in `envelope`, logged under `endpoint` when unexpected.
    pub fn respond(self, envelope: Envelope, endpoint: &'static str) -> Response<Body> {
        match self {
            ApiError::BadRequest(m) => envelope.error(StatusCode::BAD_REQUEST, &m),
            ApiError::Form(e) => {
                let message = match (envelope, e) {
                    (Envelope::Video, FormError::Missing(name)) => format!("{name} 不能为空"),
                    (_, e) => e.to_string(),
                };
                envelope.error(StatusCode::BAD_REQUEST, &message)
            }
            ApiError::Unauthorized(m) => envelope.error(StatusCode::UNAUTHORIZED, m),
            ApiError::Forbidden(m) => envelope.error(StatusCode::FORBIDDEN, &m),
            ApiError::NotFound(m) => envelope.error(StatusCode::NOT_FOUND, &m),
            ApiError::Conflict(m) => envelope.error(StatusCode::CONFLICT, &m),
            ApiError::Gone(m) => envelope.error(StatusCode::GONE, &m),
            ApiError::TooMany(m) => envelope.error(StatusCode::TOO_MANY_REQUESTS, &m),
            ApiError::TooManyUntil {
                message,
                retry_after,
            } => {
                let mut resp = envelope.error(StatusCode::TOO_MANY_REQUESTS, &message);
                resp.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from(retry_after.max(1)),
                );
                resp
            }
            ApiError::Unavailable(m) => envelope.error(StatusCode::SERVICE_UNAVAILABLE, &m),
            ApiError::Status(status, m) => envelope.error(status, &m),
            ApiError::Internal(e) => {
                tracing::error!(endpoint, error = format!("{e:#}"), "request failed");
                envelope.error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
            }
        }
    }
}

/// A handler's result, answered in `envelope`.
pub fn respond(
    envelope: Envelope,
    endpoint: &'static str,
    result: Result<Response<Body>, ApiError>,
) -> Response<Body> {
    result.unwrap_or_else(|e| e.respond(envelope, endpoint))
}

impl From<FormError> for ApiError {
    fn from(e: FormError) -> Self {
        ApiError::Form(e)
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::BadRequest(e.0)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::PhoneTaken => ApiError::BadRequest(e.to_string()),
            StoreError::OpenidTaken | StoreError::OtherOpenidBound => {
                ApiError::Conflict(e.to_string())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized => ApiError::Unauthorized(INVALID_TOKEN),
            AuthError::Store(s) => s.into(),
        }
    }
}
