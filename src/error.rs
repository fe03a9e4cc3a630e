//! The API's error type and the one place that renders Twilio's error body
//! `{code, message, more_info, status}` (COMPAT §4).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// Twilio error codes depot answers with (COMPAT §4.2).
pub mod codes {
    pub const INVALID_PARAMETER: u32 = 20001;
    pub const UNAUTHORIZED: u32 = 20003;
    pub const METHOD_NOT_ALLOWED: u32 = 20004;
    pub const FORBIDDEN: u32 = 20403;
    pub const ACCOUNT_CLOSED: u32 = 21479;
    pub const NOT_FOUND: u32 = 20404;
    pub const CONFLICT: u32 = 20409;
    pub const PAYLOAD_TOO_LARGE: u32 = 20413;
    pub const TOO_MANY_REQUESTS: u32 = 20429;
    pub const INTERNAL: u32 = 20500;
    pub const UNAVAILABLE: u32 = 20503;
}

/// Every way an API request can fail, named by meaning.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `path` is the request path without `/v1`, or the path of a referenced resource.
    #[error("The requested resource {path} was not found")]
    NotFound { path: String },
    #[error("Missing required parameter {0} in the post body")]
    MissingParameter(&'static str),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("Authentication Error - No credentials provided")]
    NoCredentials,
    #[error("Authenticate")]
    BadCredentials,
    #[error("Method not allowed")]
    MethodNotAllowed { allow: HeaderValue },
    /// 403 / 20403: authenticated, but these credentials may not do this (COMPAT §16.4).
    #[error("{0}")]
    Forbidden(String),
    /// 400 / 21479: a closed account cannot be given another status (COMPAT §16.4).
    #[error("{0}")]
    AccountClosed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Request Entity Too Large")]
    PayloadTooLarge,
    #[error("Too Many Requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("Internal Server Error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A backend (database, content store) cannot be reached, or is busy: try again.
    #[error("Service Unavailable: {0}")]
    Unavailable(String),
}

impl ApiError {
    pub fn not_found(path: impl Into<String>) -> Self {
        ApiError::NotFound { path: path.into() }
    }

    /// The 404 for a request path: Twilio names it without `/v1`; a huge path is cut.
    pub fn not_found_at(request_path: &str) -> Self {
        const MAX_PATH_IN_MESSAGE: usize = 300;
        let path = request_path.strip_prefix("/v1").unwrap_or(request_path);
        ApiError::NotFound {
            path: crate::domain::names::truncate_chars(path, MAX_PATH_IN_MESSAGE),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidParameter(message.into())
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(err))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MissingParameter(_) | ApiError::InvalidParameter(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::NoCredentials | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::AccountClosed(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn twilio_code(&self) -> u32 {
        match self {
            ApiError::NotFound { .. } => codes::NOT_FOUND,
            ApiError::MissingParameter(_) | ApiError::InvalidParameter(_) => {
                codes::INVALID_PARAMETER
            }
            ApiError::NoCredentials | ApiError::BadCredentials => codes::UNAUTHORIZED,
            ApiError::MethodNotAllowed { .. } => codes::METHOD_NOT_ALLOWED,
            ApiError::Forbidden(_) => codes::FORBIDDEN,
            ApiError::AccountClosed(_) => codes::ACCOUNT_CLOSED,
            ApiError::Conflict(_) => codes::CONFLICT,
            ApiError::PayloadTooLarge => codes::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => codes::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => codes::INTERNAL,
            ApiError::Unavailable(_) => codes::UNAVAILABLE,
        }
    }
}

impl From<crate::blob::BlobError> for ApiError {
    fn from(err: crate::blob::BlobError) -> Self {
        if err.is_unavailable() {
            tracing::warn!(error = %err, "content store unavailable");
            ApiError::Unavailable("content store unreachable; try again".into())
        } else {
            ApiError::internal(err)
        }
    }
}

impl From<StoreError> for ApiError {
    /// Store errors that reach a handler unmapped are server faults: the domain layer turns
    /// `NotFound` and `Conflict` into meaningful errors where they can happen.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(what) => {
                crate::metrics::store_error("unavailable");
                ApiError::Unavailable(what)
            }
            err => {
                crate::metrics::store_error("backend");
                ApiError::internal(err)
            }
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u32,
    message: &'a str,
    more_info: String,
    status: u16,
}

/// Marks a response carrying an internal error, so the logging middleware reports it once.
#[derive(Clone)]
pub struct InternalErrorLogged(pub std::sync::Arc<String>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.twilio_code();
        let message = self.to_string();
        let body = ErrorBody {
            code,
            message: &message,
            more_info: format!("https://www.twilio.com/docs/errors/{code}"),
            status: status.as_u16(),
        };
        let mut response = (status, json_bytes(&body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match &self {
            ApiError::NoCredentials | ApiError::BadCredentials => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Twilio API\""),
                );
            }
            ApiError::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, allow.clone());
            }
            // The rest of the body is never read: the connection cannot carry another request.
            ApiError::PayloadTooLarge => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::Internal(source) => {
                let detail = std::sync::Arc::new(format!("{source:#}"));
                response
                    .extensions_mut()
                    .insert(InternalErrorLogged(detail));
            }
            _ => {}
        }
        response
    }
}

/// Serialises a value that cannot fail to serialise (plain structs of strings and numbers).
pub fn json_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(err: ApiError) -> (StatusCode, serde_json::Value, Response) {
        let response = err.into_response();
        let status = response.status();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let value = serde_json::from_slice(&bytes).unwrap();
        (
            status,
            value,
            Response::from_parts(parts, axum::body::Body::empty()),
        )
    }

    #[tokio::test]
    async fn not_found_renders_twilio_body_with_four_keys() {
        let (status, body, _) = body_of(ApiError::not_found("/Services/ZSx")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            serde_json::json!({
                "code": 20404,
                "message": "The requested resource /Services/ZSx was not found",
                "more_info": "https://www.twilio.com/docs/errors/20404",
                "status": 404
            })
        );
    }

    #[test]
    fn not_found_path_drops_v1_and_is_bounded() {
        let ApiError::NotFound { path } = ApiError::not_found_at("/v1/Services/x") else {
            panic!()
        };
        assert_eq!(path, "/Services/x");
        let long = format!("/v1/{}", "a".repeat(10_000));
        let ApiError::NotFound { path } = ApiError::not_found_at(&long) else {
            panic!()
        };
        assert_eq!(path.chars().count(), 301);
    }

    #[tokio::test]
    async fn unauthorized_carries_www_authenticate() {
        let (status, body, response) = body_of(ApiError::NoCredentials).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], 20003);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"Twilio API\""
        );
    }

    #[tokio::test]
    async fn too_many_requests_carries_retry_after() {
        let (status, body, response) = body_of(ApiError::TooManyRequests {
            retry_after_secs: 42,
        })
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["code"], 20429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "42");
    }
}
