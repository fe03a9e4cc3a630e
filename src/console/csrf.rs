//! Cross-site request forgery defences. Two, because a hostile page on an environment domain
//! is same-site with the console: the request must come from the console's own origin (the
//! browser's `Origin` and `Sec-Fetch-Site` headers say so, and no page can forge them), and it
//! must carry the session's secret token, which only the console's pages hold.

use axum::http::{header, HeaderMap, Uri};
use subtle::ConstantTimeEq;

/// Whether a state-changing request came from a page of the console's own origin. Clients
/// that are not browsers send neither header; they still need the session's token.
pub fn same_origin(uri: &Uri, headers: &HeaderMap) -> bool {
    let host = crate::host::request_host(uri, headers).unwrap_or_default();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        // `null` (sandboxed frames, some redirects) and anything odd are refused.
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return authority.is_some_and(|a| !host.is_empty() && a.eq_ignore_ascii_case(host));
    }
    match headers.get("sec-fetch-site").map(|v| v.to_str()) {
        None => true,
        Some(Ok(site)) => matches!(site, "same-origin" | "none"),
        Some(Err(_)) => false,
    }
}

/// Whether `sent` is the session's token, compared in constant time.
pub fn token_matches(expected: &str, sent: Option<&str>) -> bool {
    sent.is_some_and(|sent| bool::from(expected.as_bytes().ct_eq(sent.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn sibling_origins_are_refused() {
        let uri: Uri = "/console/services".parse().unwrap();
        let ok = headers(&[
            ("host", "depot.example:4000"),
            ("origin", "http://depot.example:4000"),
        ]);
        assert!(same_origin(&uri, &ok));
        let sibling = headers(&[
            ("host", "depot.example:4000"),
            ("origin", "http://x-1234.depot.example:4000"),
        ]);
        assert!(!same_origin(&uri, &sibling));
        let null = headers(&[("host", "depot.example"), ("origin", "null")]);
        assert!(!same_origin(&uri, &null));
        let fetch_site = headers(&[("host", "depot.example"), ("sec-fetch-site", "same-site")]);
        assert!(!same_origin(&uri, &fetch_site));
        let tool = headers(&[("host", "depot.example")]);
        assert!(same_origin(&uri, &tool));
    }

    #[test]
    fn tokens_must_match_exactly() {
        assert!(token_matches("abc", Some("abc")));
        assert!(!token_matches("abc", Some("abd")));
        assert!(!token_matches("abc", Some("")));
        assert!(!token_matches("abc", None));
    }
}
