//! The asset host: requests whose Host is an environment's domain (COMPAT §2.1, §11).

use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Whether `headers` name an environment domain under the operator's host domain:
/// `{name}-{4 digits}[-{suffix}].{host domain}`, port ignored, case-insensitive.
pub fn is_asset_host(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    looks_like_environment_domain(host_without_port(host), &state.config.host_domain)
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

fn looks_like_environment_domain(host: &str, host_domain: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let Some(label) = host
        .strip_suffix(host_domain)
        .and_then(|rest| rest.strip_suffix('.'))
    else {
        return false;
    };
    let bytes = label.as_bytes();
    let charset_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
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

/// Serves an asset-host request. Environments arrive with the Builds issue; until then no
/// domain has a build, so every path is 404.
pub async fn serve(_state: &AppState, _req: Request) -> Response {
    (StatusCode::NOT_FOUND, "Not Found\n").into_response()
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
                looks_like_environment_domain(&host.to_ascii_lowercase(), "localhost"),
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
            assert!(!looks_like_environment_domain(host, "localhost"), "{host}");
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
