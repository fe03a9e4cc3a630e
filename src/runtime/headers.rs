//! Request and response headers of a function: what is stripped before the function sees a
//! request (RUNTIME §2.3) and the size limits on both sides (RUNTIME §2.1, §2.8).

use axum::http::HeaderMap;

/// Most bytes of headers (names, values and line overhead), each way.
pub const MAX_HEADER_BYTES: usize = 15 * 1024;
/// Most header lines, cookies included, each way.
pub const MAX_HEADER_LINES: usize = 90;

/// Headers never passed to a function: Twilio's documented list plus the dev runtime's, `host`
/// included (RUNTIME §2.3).
const STRIPPED: &[&str] = &[
    "connection",
    "proxy-connection",
    "expect",
    "host",
    "proxy-authorization",
    "proxy-authenticate",
    "referer",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "x-real-ip",
    "keep-alive",
    "te",
];

/// Prefixes of stripped headers: proxies' and Twilio's internal ones.
const STRIPPED_PREFIXES: &[&str] = &[
    "x-accel-",
    "x-forwarded-",
    "proxy-",
    "i-twilio-",
    "i-t-",
    "ot-",
    "x-amz",
];

/// Whether a (lowercase) header name reaches the function.
pub fn passed(name: &str) -> bool {
    !STRIPPED.contains(&name) && !STRIPPED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The headers a function sees: lowercase names, in arrival order, non-UTF-8 values lossily
/// decoded.
pub fn for_function(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| passed(name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Whether a set of header lines is within the limits: `name: value\r\n` per line.
pub fn within_limits<'a>(lines: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> bool {
    let (mut count, mut bytes) = (0usize, 0usize);
    for (name, value) in lines {
        count += 1;
        bytes += name.len() + value.len() + 4;
        if count > MAX_HEADER_LINES || bytes > MAX_HEADER_BYTES {
            return false;
        }
    }
    true
}

/// Response headers depot sets itself: a function's copy would contradict the real body.
pub fn owned_by_depot(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "upgrade"
            | "trailer"
            | "twilio-request-id"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn proxy_and_internal_headers_are_stripped() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("host", "a-1234.localhost"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("via", "1.1 proxy"),
            ("referer", "http://x"),
            ("x-real-ip", "1.2.3.4"),
            ("x-accel-buffering", "no"),
            ("proxy-authorization", "x"),
            ("i-twilio-thing", "x"),
            ("i-t-x", "x"),
            ("ot-tracer", "x"),
            ("x-amzn-trace-id", "x"),
            ("connection", "close"),
            ("expect", "100-continue"),
            ("content-type", "application/json"),
            ("cookie", "a=1"),
            ("x-twilio-signature", "s"),
            ("authorization", "Basic x"),
            ("user-agent", "t"),
        ] {
            h.append(
                axum::http::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        h.append("x-multi", HeaderValue::from_static("1"));
        h.append("x-multi", HeaderValue::from_static("2"));
        let kept: Vec<String> = for_function(&h)
            .into_iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        assert_eq!(
            kept,
            [
                "content-type=application/json",
                "cookie=a=1",
                "x-twilio-signature=s",
                "authorization=Basic x",
                "user-agent=t",
                "x-multi=1",
                "x-multi=2"
            ]
        );
    }

    #[test]
    fn limits_count_lines_and_bytes() {
        let small: Vec<(&[u8], &[u8])> = vec![(b"a", b"b"); 90];
        assert!(within_limits(small.iter().copied()));
        let many: Vec<(&[u8], &[u8])> = vec![(b"a", b"b"); 91];
        assert!(!within_limits(many.iter().copied()));
        let big = vec![b'x'; MAX_HEADER_BYTES];
        assert!(!within_limits([(&b"cookie"[..], &big[..])].into_iter()));
    }
}
