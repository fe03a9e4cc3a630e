//! The browser console (issue 11): server-rendered pages under `/console` on the API's
//! hostnames, with their own session sign-in, every byte embedded in the binary.
//!
//! Anyone's HTML is served by the asset host on sibling names of the console (with
//! `--host-domain depot.example`, `x-1234.depot.example` and `depot.example` are one site to a
//! browser, so `SameSite` does not keep those pages out). What keeps them out instead: the
//! session cookie is host-only (no `Domain`), the console answers on no name under the host
//! domain, every state change must carry the session's CSRF token and come from the console's
//! own origin, pages forbid framing, and a strict CSP allows no inline script. maud escapes
//! everything interpolated into a page.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceExt;

use crate::AppState;

mod csrf;
mod files;
mod form;
mod layout;
mod pages;
mod session;
mod statics;
mod upload;

/// Whether `path` belongs to the console.
pub fn is_console_path(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// The console's routes, built once.
pub fn router(state: AppState) -> Router {
    use pages::{builds, environments, logs, services, sign_in};
    Router::new()
        .route("/console", get(services::home))
        .route("/console/static/{file}", get(statics::serve))
        .route(
            "/console/sign-in",
            get(sign_in::page).post(sign_in::sign_in),
        )
        .route("/console/sign-out", post(sign_in::sign_out))
        .route(
            "/console/services",
            get(services::list).post(services::create),
        )
        .route("/console/services/{service}", get(services::overview))
        .route("/console/services/{service}/delete", post(services::delete))
        .route(
            "/console/services/{service}/environments",
            post(environments::create),
        )
        .route(
            "/console/services/{service}/environments/{environment}",
            get(environments::page),
        )
        .route(
            "/console/services/{service}/environments/{environment}/deploy",
            post(environments::deploy),
        )
        .route(
            "/console/services/{service}/environments/{environment}/variables",
            post(environments::add_variable),
        )
        .route(
            "/console/services/{service}/environments/{environment}/variables/{variable}",
            post(environments::update_variable),
        )
        .route(
            "/console/services/{service}/environments/{environment}/variables/{variable}/delete",
            post(environments::delete_variable),
        )
        .route(
            "/console/services/{service}/environments/{environment}/logs",
            get(logs::page),
        )
        .route(
            "/console/services/{service}/environments/{environment}/logs.json",
            get(logs::feed),
        )
        .route(
            "/console/services/{service}/files",
            get(files::page).post(upload::upload),
        )
        .route("/console/services/{service}/builds", post(builds::create))
        .route(
            "/console/services/{service}/builds/{build}",
            get(builds::page),
        )
        .fallback(not_found)
        .with_state(state)
}

/// Answers a console request: refused on names under the host domain, checked for its
/// origin when it changes something, and sent with the console's security headers.
pub async fn serve(state: &AppState, console: Router, req: Request) -> Response {
    let host = crate::host::request_host(req.uri(), req.headers())
        .map(crate::host::host_without_port)
        .unwrap_or_default()
        .to_ascii_lowercase();
    // A name under the host domain may be an environment's tomorrow: its cookies and origin
    // would be the console's. Only the host domain itself and other names serve the console.
    let response = if host.ends_with(&format!(".{}", state.config.host_domain)) {
        layout::error_page(
            StatusCode::NOT_FOUND,
            "The console is not served on this name.",
        )
    } else if !matches!(*req.method(), Method::GET | Method::HEAD)
        && !csrf::same_origin(req.uri(), req.headers())
    {
        layout::error_page(
            StatusCode::FORBIDDEN,
            "This request did not come from a console page: nothing was changed.",
        )
    } else {
        match console.oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    };
    with_security_headers(response)
}

async fn not_found() -> Response {
    layout::error_page(StatusCode::NOT_FOUND, "There is no console page here.")
}

/// No inline script or style, nothing from elsewhere, no framing, no form posting away.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    // Pages show account data: no shared cache may keep them. Static files set their own.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A 303 to `location` (a console path built by the console, never taken from a client).
fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => layout::error_page(StatusCode::INTERNAL_SERVER_ERROR, "Bad redirect."),
    }
}
