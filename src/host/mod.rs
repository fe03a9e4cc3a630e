//! The asset host: requests whose Host is an environment's domain (COMPAT §2.1, §11).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

pub mod files;
mod sites;

pub use sites::{File, SiteView, Sites};

use crate::domain::versions::Visibility;
use crate::signature;
use crate::store::ContainerKind;
use crate::AppState;

/// Whether `req` is for the asset host: its authority names an environment domain under the
/// operator's host domain (`{name}-{4 digits}[-{suffix}].{host domain}`, port ignored, any case).
pub fn is_asset_request(state: &AppState, req: &Request) -> bool {
    request_host(req.uri(), req.headers()).is_some_and(|host| {
        is_environment_domain(host_without_port(host), &state.config.host_domain)
    })
}

/// The host a request addresses: the URI's authority (HTTP/2 `:authority`, or an absolute-form
/// HTTP/1.1 target, which RFC 9112 says wins over `Host`), else the `Host` header.
pub fn request_host<'a>(uri: &'a axum::http::Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    match uri.authority() {
        Some(authority) => Some(authority.as_str()),
        None => headers.get(header::HOST).and_then(|h| h.to_str().ok()),
    }
}

/// `host` minus a trailing `:port` (IPv6 literals keep their brackets).
pub fn host_without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') || host.starts_with('[') => {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }
        _ => host,
    }
}

/// Longest DNS name (RFC 1035): a longer Host cannot name an environment, and never reaches a
/// cache.
const MAX_DOMAIN: usize = 253;
/// Longest DNS label.
const MAX_LABEL: usize = 63;

/// Whether `host` (no port) is an environment domain under `host_domain`, case-insensitively.
pub fn is_environment_domain(host: &str, host_domain: &str) -> bool {
    if host.len() > MAX_DOMAIN {
        return false;
    }
    // Case-insensitive suffix match without allocating: this runs for every request.
    let Some(split) = host.len().checked_sub(host_domain.len() + 1) else {
        return false;
    };
    let (Some(label), Some(rest)) = (host.get(..split), host.get(split..)) else {
        return false;
    };
    if !rest.starts_with('.') || !rest[1..].eq_ignore_ascii_case(host_domain) {
        return false;
    }
    if label.len() > MAX_LABEL {
        return false;
    }
    let bytes = label.as_bytes();
    let charset_ok = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    if !charset_ok || !bytes.first().is_some_and(u8::is_ascii_alphanumeric) {
        return false;
    }
    // Some `-NNNN` group must follow a name: `name-1234` or `name-1234-suffix`.
    label.match_indices('-').any(|(i, _)| {
        let rest = &label[i + 1..];
        i > 0
            && rest.len() >= 4
            && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && (rest.len() == 4 || (rest.as_bytes()[4] == b'-' && rest.len() > 5))
    })
}

/// Serves an asset-host request (COMPAT §11): resolve, then visibility, then HTTP.
pub async fn serve(state: &AppState, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let domain = request_host(&parts.uri, &parts.headers)
        .map(host_without_port)
        .unwrap_or_default();
    let domain = if domain.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(domain.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(domain)
    };
    let site = match state.sites.get(state, &domain).await {
        Ok(Some(site)) => site,
        Ok(None) => return not_found(),
        Err(crate::store::StoreError::Unavailable(reason)) => {
            tracing::warn!(%domain, %reason, "cannot load site: database unavailable");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n");
        }
        Err(err) => {
            tracing::error!(%domain, error = %err, "cannot load site");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n");
        }
    };
    let Some((route, file)) = resolve(&site, parts.uri.path()) else {
        return not_found();
    };
    // Private files are for functions only: the path behaves as if absent.
    if file.visibility == Visibility::Private {
        return not_found();
    }
    if parts.method == Method::OPTIONS {
        return preflight();
    }
    match file.kind {
        ContainerKind::Function => {
            // Owned: the invocation outlives this request if its client goes away.
            let request = crate::runtime::invoke::Request {
                path: route.to_owned(),
                site: site.clone(),
                domain: domain.into_owned(),
                file,
            };
            crate::runtime::invoke::function(state, request, parts, body).await
        }
        ContainerKind::Asset => {
            if parts.method != Method::GET && parts.method != Method::HEAD {
                let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
                response.headers_mut().insert(
                    header::ALLOW,
                    HeaderValue::from_static("GET, HEAD, OPTIONS"),
                );
                return response;
            }
            if file.visibility == Visibility::Protected && !signed(state, &site, &parts, None).await
            {
                return forbidden();
            }
            files::serve(state, &file, &parts.method, &parts.headers).await
        }
    }
}

/// Longest request path the host looks up; longer ones cannot name a file (paths ≤ 255).
const MAX_PATH: usize = 4096;

/// Finds the file for a raw request path: as received, then percent-decoded, then `/` as
/// `/assets/index.html` (COMPAT §11.2).
fn resolve<'a>(site: &'a SiteView, raw_path: &str) -> Option<(&'a str, Arc<File>)> {
    if raw_path.len() > MAX_PATH {
        return None;
    }
    let found = |path: &str| {
        site.files
            .get_key_value(path)
            .map(|(route, file)| (route.as_str(), file.clone()))
    };
    if let Some(hit) = found(raw_path) {
        return Some(hit);
    }
    if raw_path.contains('%') {
        if let Ok(decoded) = percent_encoding::percent_decode_str(raw_path).decode_utf8() {
            if let Some(hit) = found(decoded.as_ref()) {
                return Some(hit);
            }
        }
    }
    if raw_path == "/" {
        return found("/assets/index.html");
    }
    None
}

/// Whether the request carries a valid `X-Twilio-Signature` for the site's account.
pub async fn signed(state: &AppState, site: &SiteView, req: &Parts, body: Option<&[u8]>) -> bool {
    let Some(signature) = req
        .headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let token = match state
        .accounts
        .lookup(state.store.as_ref(), &site.account_sid)
        .await
    {
        Ok(Some(account)) => account.auth_token,
        _ => return false,
    };
    let host = request_host(&req.uri, &req.headers).unwrap_or_default();
    let target = req
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let is_form = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: Option<Vec<(String, String)>> = match body {
        Some(bytes) if is_form && req.method == Method::POST => Some(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ),
        _ => None,
    };
    let request = signature::SignedRequest {
        host,
        target,
        form: form.as_deref(),
        body: if form.is_some() { None } else { body },
        signature,
    };
    signature::is_valid(&token, &request)
}

/// OPTIONS on a servable path (COMPAT §11.5).
fn preflight() -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since, User-Agent",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    response
}

/// A short plain-text answer: the host never answers with API JSON.
/// Forgets cached sites as the store announces changes to them, from this node or any other
/// sharing the store. Missed changes (a lagging subscriber) forget everything.
pub async fn follow_site_changes(
    state: AppState,
    mut changes: tokio::sync::broadcast::Receiver<crate::store::SiteChange>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match changes.recv().await {
            Ok(crate::store::SiteChange::Domain(domain)) => {
                state.sites.forget(&domain);
                tokio::spawn(prepare_functions(state.clone(), domain));
            }
            Ok(crate::store::SiteChange::All) | Err(RecvError::Lagged(_)) => {
                state.sites.forget_all();
                let state = state.clone();
                tokio::spawn(async move { state.pools.retire_deleted(&state.core).await });
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Stops the workers of builds no longer deployed at `domain` (the environment was redeployed
/// or deleted), and lays out and installs a newly deployed build with functions on this node
/// now, rather than on its first request: a node that did not build it would otherwise make
/// that request wait for `npm install`.
async fn prepare_functions(state: AppState, domain: String) {
    if state.config.runtime.node.is_none() {
        return;
    }
    let Ok(site) = state.sites.get(&state, &domain).await else {
        return;
    };
    match &site {
        Some(site) => state
            .pools
            .retire(&site.environment_sid, site.build_sid.as_deref()),
        None => state.pools.retire_deleted(&state.core).await,
    }
    let Some(site) = site else {
        return;
    };
    let Some(build_sid) = &site.build_sid else {
        return;
    };
    if !site
        .files
        .values()
        .any(|f| f.kind == ContainerKind::Function)
    {
        return;
    }
    let detail = match state.store.build(&site.service_sid, build_sid).await {
        Ok(detail) => detail,
        Err(err) => {
            tracing::debug!(build = %build_sid, error = %err, "cannot read deployed build");
            return;
        }
    };
    if let Err(reason) = crate::runtime::install::ensure(&state.core, &detail).await {
        tracing::warn!(build = %build_sid, %reason, "cannot prepare deployed functions");
    }
}

pub fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = (status, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "Not Found\n")
}

fn forbidden() -> Response {
    plain(StatusCode::FORBIDDEN, "Forbidden\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_domains_are_recognised() {
        for host in [
            "my-app-1234.localhost",
            "my-app-1234-dev.localhost",
            "A-0000-X.LOCALHOST",
        ] {
            assert!(
                is_environment_domain(&host.to_ascii_lowercase(), "localhost"),
                "{host}"
            );
        }
        for host in [
            "localhost",
            "127.0.0.1",
            "my-app.localhost",
            "-1234.localhost",
            "a-123.localhost",
            "a-1234-.localhost",
            "a-1234.example.com",
            "a_b-1234.localhost",
        ] {
            assert!(!is_environment_domain(host, "localhost"), "{host}");
        }
    }

    #[test]
    fn ports_are_ignored() {
        assert_eq!(
            host_without_port("a-1234.localhost:4000"),
            "a-1234.localhost"
        );
        assert_eq!(host_without_port("a-1234.localhost"), "a-1234.localhost");
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
    }
}
