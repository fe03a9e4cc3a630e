//! Prometheus metrics, on a listener of their own (`--metrics-listen`), never on the API's or
//! an environment's port. Without that flag no recorder is installed and every update below is
//! a no-op.
//!
//! Labels come only from bounded sets (surface, method, a route template, a status code), so a
//! client cannot grow the number of series.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Latency buckets in seconds: the host answers in tens of microseconds, uploads in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Whether a recorder is installed: without one, the request path skips even its clock reads.
static ENABLED: AtomicBool = AtomicBool::new(false);

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Installs the recorder and its HTTP listener at `addr` (answers `GET /metrics`).
pub fn serve(addr: SocketAddr) -> Result<(), String> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(&LATENCY_BUCKETS)
        .map_err(|e| e.to_string())?
        .install()
        .map_err(|e| e.to_string())?;
    ENABLED.store(true, Ordering::Relaxed);
    Ok(())
}

/// One answered request: `surface` is `api` or `host`.
pub fn request(
    surface: &'static str,
    route: &'static str,
    method: &str,
    status: u16,
    took: Duration,
) {
    let method = match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    metrics::counter!(
        "depot_http_requests_total",
        "surface" => surface,
        "route" => route,
        "method" => method,
        "status" => status_label(status)
    )
    .increment(1);
    metrics::histogram!(
        "depot_http_request_duration_seconds",
        "surface" => surface,
        "route" => route,
        "method" => method
    )
    .record(took.as_secs_f64());
}

/// A status code as a label without allocating for the common ones.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        206 => "206",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        416 => "416",
        429 => "429",
        500 => "500",
        501 => "501",
        503 => "503",
        _ => match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}

/// Body bytes the asset host sent.
pub fn host_bytes(bytes: u64) {
    metrics::counter!("depot_host_sent_bytes_total").increment(bytes);
}

/// An accepted upload (a new Asset or Function Version) of `bytes`.
pub fn upload(bytes: u64) {
    metrics::counter!("depot_uploads_total").increment(1);
    metrics::counter!("depot_upload_bytes_total").increment(bytes);
}

/// A build finished with `status` (`completed` or `failed`).
pub fn build(status: &'static str) {
    metrics::counter!("depot_builds_total", "status" => status).increment(1);
}

/// A store call failed: `unavailable` (database unreachable) or `backend`.
pub fn store_error(kind: &'static str) {
    metrics::counter!("depot_store_errors_total", "kind" => kind).increment(1);
}

/// The route template of an API path, with every identifier replaced by `{id}`: the label is
/// bounded whatever path a client sends.
pub fn api_route(path: &str) -> &'static str {
    const COLLECTIONS: [&str; 11] = [
        "Services",
        "Assets",
        "Functions",
        "Versions",
        "Builds",
        "Environments",
        "Deployments",
        "Variables",
        "Logs",
        "Accounts",
        "Keys",
    ];
    let mut shape = String::with_capacity(path.len());
    let mut previous = "";
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let collection = COLLECTIONS
            .iter()
            .any(|c| previous.trim_end_matches(".json") == *c);
        shape.push('/');
        if collection {
            shape.push_str("{id}");
        } else {
            shape.push_str(segment);
        }
        previous = segment;
    }
    ROUTES
        .iter()
        .find(|r| **r == shape)
        .copied()
        .unwrap_or("other")
}

/// Every API route depot serves, as [`api_route`] writes them.
const ROUTES: [&str; 28] = [
    "/2010-04-01/Accounts.json",
    "/2010-04-01/Accounts/{id}",
    "/2010-04-01/Accounts/{id}/Keys.json",
    "/2010-04-01/Accounts/{id}/Keys/{id}",
    "/healthz",
    "/v1/Services",
    "/v1/Services/{id}",
    "/v1/Services/{id}/Assets",
    "/v1/Services/{id}/Assets/{id}",
    "/v1/Services/{id}/Assets/{id}/Versions",
    "/v1/Services/{id}/Assets/{id}/Versions/{id}",
    "/v1/Services/{id}/Functions",
    "/v1/Services/{id}/Functions/{id}",
    "/v1/Services/{id}/Functions/{id}/Versions",
    "/v1/Services/{id}/Functions/{id}/Versions/{id}",
    "/v1/Services/{id}/Functions/{id}/Versions/{id}/Content",
    "/v1/Services/{id}/Builds",
    "/v1/Services/{id}/Builds/{id}",
    "/v1/Services/{id}/Builds/{id}/Status",
    "/v1/Services/{id}/Environments",
    "/v1/Services/{id}/Environments/{id}",
    "/v1/Services/{id}/Environments/{id}/Deployments",
    "/v1/Services/{id}/Environments/{id}/Deployments/{id}",
    "/v1/Services/{id}/Environments/{id}/Variables",
    "/v1/Services/{id}/Environments/{id}/Variables/{id}",
    "/v1/Services/{id}/Environments/{id}/Logs",
    "/v1/Services/{id}/Environments/{id}/Logs/{id}",
    "/depot/v1/Services/{id}/Contents",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates_and_unknown_paths_are_other() {
        assert_eq!(
            api_route("/v1/Services/my-app/Assets/ZH0123/Versions"),
            "/v1/Services/{id}/Assets/{id}/Versions"
        );
        assert_eq!(api_route("/v1/Services"), "/v1/Services");
        assert_eq!(
            api_route("/2010-04-01/Accounts/AC1/Keys/SK1.json"),
            "/2010-04-01/Accounts/{id}/Keys/{id}"
        );
        assert_eq!(api_route("/v1/Services/x/Nope/y"), "other");
        assert_eq!(api_route("/../../etc/passwd"), "other");
    }
}
