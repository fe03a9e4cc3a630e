//! The CORS headers Twilio's OpenAPI file documents on every API response (COMPAT §2.4), and
//! the answer to a browser's preflight, which carries no credentials.
//!
//! The origin is `*`, never the caller's own: a browser then refuses to send cookies or
//! remembered Basic credentials along, so a hostile page cannot act with a user's session.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

const ALLOW_ORIGIN: HeaderValue = HeaderValue::from_static("*");
const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET, POST, DELETE, OPTIONS");
const ALLOW_HEADERS: HeaderValue = HeaderValue::from_static(
    "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, If-None-Match, \
     If-Unmodified-Since",
);
const EXPOSE_HEADERS: HeaderValue = HeaderValue::from_static("ETag");
const ALLOW_CREDENTIALS: HeaderValue = HeaderValue::from_static("true");
/// How long a browser may reuse a preflight answer.
const MAX_AGE: HeaderValue = HeaderValue::from_static("86400");

fn insert(headers: &mut HeaderMap) {
    headers.reserve(6);
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW_ORIGIN);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
    headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, ALLOW_CREDENTIALS);
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
}

/// `response` with the CORS headers added.
pub fn with_headers(mut response: Response) -> Response {
    insert(response.headers_mut());
    response
}

/// 204 for an `OPTIONS` request to any API path, before authentication.
pub fn preflight() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    insert(headers);
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    response
}
