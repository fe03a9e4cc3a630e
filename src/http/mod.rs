//! The HTTP surface: one entry point that sends a request to the asset host or the API by its
//! Host header (COMPAT §2.1), and the API's route table in the spec's order.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;

pub mod accounts;
pub mod asset_versions;
pub mod assets;
pub mod auth;
pub mod builds;
mod containers;
mod contents;
mod cors;
pub mod deployments;
pub mod environments;
pub mod extract;
pub mod function_versions;
pub mod functions;
pub mod json_out;
pub mod logs;
pub mod pagination;
pub mod services;
mod uploads;
pub mod variables;
mod versions;

use crate::error::{ApiError, InternalErrorLogged};
pub use crate::AppState;

/// The whole application as the listener calls it: health, host dispatch, API. Neither path
/// carries middleware layers: authentication, CORS and error logging are plain steps of
/// [`dispatch`], which keeps the per-request work to what each request needs.
pub fn handler(state: AppState) -> crate::server::Handler {
    let api = api_router(state.clone());
    let console = crate::console::router(state.clone());
    std::sync::Arc::new(move |req| {
        // Routes by Host first, so an environment's domain never reaches the API (nor
        // `/healthz`). Each side is its own, smaller future.
        let state = state.clone();
        // The clock is read only when something will use the duration.
        let started = (crate::metrics::enabled() || tracing::enabled!(tracing::Level::DEBUG))
            .then(std::time::Instant::now);
        let method = req.method().clone();
        // A tunnel is opened by the listener under --intercept-twilio, never here.
        if method == Method::CONNECT {
            return Box::pin(std::future::ready(
                ApiError::Forbidden(
                    "CONNECT is answered only by depot serve --intercept-twilio, outside tunnels"
                        .into(),
                )
                .into_response(),
            ));
        }
        if crate::host::is_asset_request(&state, &req) {
            Box::pin(async move {
                let response = crate::host::serve(&state, req).await;
                finish("host", "host", &method, started, response)
            })
        } else if crate::console::is_console_path(req.uri().path()) {
            // The console has its own session sign-in, so it comes before API authentication.
            let console = console.clone();
            Box::pin(async move {
                let response = crate::console::serve(&state, console, req).await;
                finish("console", "console", &method, started, response)
            })
        } else {
            let route = match started {
                Some(_) => crate::metrics::api_route(req.uri().path()),
                None => "",
            };
            let api = api.clone();
            Box::pin(async move {
                let response = dispatch(state, api, req).await;
                finish("api", route, &method, started, response)
            })
        }
    })
}

/// What every response gets on its way out: a `Twilio-Request-Id`, a debug log line that
/// carries it, and its metrics.
fn finish(
    surface: &'static str,
    route: &'static str,
    method: &Method,
    started: Option<std::time::Instant>,
    mut response: Response,
) -> Response {
    // A function invocation names its own request (its Logs carry the same SID); keep it.
    if !response.headers().contains_key("twilio-request-id") {
        let id = crate::domain::sid::generate_bytes(crate::domain::sid::Prefix::Request);
        if let Ok(value) = header::HeaderValue::from_bytes(&id) {
            response.headers_mut().insert("twilio-request-id", value);
        }
    }
    let status = response.status().as_u16();
    let Some(started) = started else {
        return response;
    };
    let took = started.elapsed();
    let request_id = response
        .headers()
        .get("twilio-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::debug!(%request_id, surface, route, %method, status, micros = took.as_micros() as u64, "request");
    if !crate::metrics::enabled() {
        return response;
    }
    crate::metrics::request(surface, route, method.as_str(), status, took);
    if surface == "host" {
        if let Some(length) = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            crate::metrics::host_bytes(length);
        }
    }
    response
}

/// Health, CORS preflights, then the authenticated API.
async fn dispatch(state: AppState, api: Router, req: Request) -> Response {
    if req.uri().path() == "/healthz" {
        return (StatusCode::OK, "ok\n").into_response();
    }
    if req.method() == Method::OPTIONS {
        return cors::preflight();
    }
    let mut req = trim_trailing_slash(req);
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let response = match auth::authenticate(&state, req.headers()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller.account.credentials());
            req.extensions_mut().insert(caller);
            match api.oneshot(req).await {
                Ok(response) => twilio_method_not_allowed(response),
                Err(never) => match never {},
            }
        }
        Err(err) => err.into_response(),
    };
    // An internal error is logged once, here; the client saw a generic message.
    if let Some(InternalErrorLogged(detail)) = response.extensions().get::<InternalErrorLogged>() {
        tracing::error!(%method, path = %uri.path(), error = %detail, "request failed");
    }
    cors::with_headers(response)
}

/// `/v1/Services/` is `/v1/Services` (COMPAT §2.1).
fn trim_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The API route table, in the order of Twilio's OpenAPI file.
fn api_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/Services",
            get(services::list_service).post(services::create_service),
        )
        // depot's own, for incremental deploys.
        .route(
            "/depot/v1/Services/{service}/Contents",
            get(contents::list_contents),
        )
        .route(
            "/v1/Services/{sid}",
            get(services::fetch_service)
                .post(services::update_service)
                .delete(services::delete_service),
        )
        .route(
            "/v1/Services/{service}/Assets",
            get(assets::list_asset).post(assets::create_asset),
        )
        .route(
            "/v1/Services/{service}/Assets/{sid}",
            get(assets::fetch_asset)
                .post(assets::update_asset)
                .delete(assets::delete_asset),
        )
        .route(
            "/v1/Services/{service}/Assets/{asset}/Versions",
            get(asset_versions::list_asset_version).post(asset_versions::create_asset_version),
        )
        .route(
            "/v1/Services/{service}/Assets/{asset}/Versions/{sid}",
            get(asset_versions::fetch_asset_version),
        )
        .route(
            "/v1/Services/{service}/Builds",
            get(builds::list_build).post(builds::create_build),
        )
        .route(
            "/v1/Services/{service}/Builds/{sid}",
            get(builds::fetch_build).delete(builds::delete_build),
        )
        .route(
            "/v1/Services/{service}/Builds/{sid}/Status",
            get(builds::fetch_build_status),
        )
        .route(
            "/v1/Services/{service}/Environments/{environment}/Deployments",
            get(deployments::list_deployment).post(deployments::create_deployment),
        )
        .route(
            "/v1/Services/{service}/Environments/{environment}/Deployments/{sid}",
            get(deployments::fetch_deployment),
        )
        .route(
            "/v1/Services/{service}/Environments",
            get(environments::list_environment).post(environments::create_environment),
        )
        .route(
            "/v1/Services/{service}/Environments/{sid}",
            get(environments::fetch_environment).delete(environments::delete_environment),
        )
        .route(
            "/v1/Services/{service}/Functions",
            get(functions::list_function).post(functions::create_function),
        )
        .route(
            "/v1/Services/{service}/Functions/{sid}",
            get(functions::fetch_function)
                .post(functions::update_function)
                .delete(functions::delete_function),
        )
        .route(
            "/v1/Services/{service}/Functions/{function}/Versions",
            get(function_versions::list_function_version)
                .post(function_versions::create_function_version),
        )
        .route(
            "/v1/Services/{service}/Functions/{function}/Versions/{sid}",
            get(function_versions::fetch_function_version),
        )
        .route(
            "/v1/Services/{service}/Functions/{function}/Versions/{sid}/Content",
            get(function_versions::fetch_function_version_content),
        )
        .route(
            "/v1/Services/{service}/Environments/{environment}/Logs",
            get(logs::list_log),
        )
        .route(
            "/v1/Services/{service}/Environments/{environment}/Logs/{sid}",
            get(logs::fetch_log),
        )
        .route(
            "/v1/Services/{service}/Environments/{environment}/Variables",
            get(variables::list_variable).post(variables::create_variable),
        )
        .route(
            "/v1/Services/{service}/Environments/{environment}/Variables/{sid}",
            get(variables::fetch_variable)
                .post(variables::update_variable)
                .delete(variables::delete_variable),
        )
        // The 2010-04-01 subset (COMPAT §16). The router cannot match a parameter followed by
        // `.json` in one segment, so those handlers strip it (and 404 without it).
        .route(
            "/2010-04-01/Accounts.json",
            get(accounts::list_account).post(accounts::create_account),
        )
        .route(
            "/2010-04-01/Accounts/{sid}",
            get(accounts::fetch_account).post(accounts::update_account),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Keys.json",
            get(accounts::list_key).post(accounts::create_key),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Keys/{sid}",
            get(accounts::fetch_key)
                .post(accounts::update_key)
                .delete(accounts::delete_key),
        )
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found_at(uri.path())
}

/// Gives axum's bare 405 Twilio's error body, keeping the `Allow` header axum computed. This
/// runs outside the router because axum adds `Allow` after its route layers.
fn twilio_method_not_allowed(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let allow = response
        .headers()
        .get(header::ALLOW)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("GET, POST, DELETE"));
    ApiError::MethodNotAllowed { allow }.into_response()
}

/// A JSON response with an explicit status.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    json_response(status, crate::error::json_bytes(value))
}

/// A JSON response of a body that writes itself.
pub fn json_written(status: StatusCode, value: &impl json_out::WriteJson) -> Response {
    let mut out = json_out::JsonOut::with_capacity(512);
    value.write_json(&mut out);
    json_response(status, out.into_bytes())
}

/// `bytes` (JSON) as a response with an explicit status.
pub fn json_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
