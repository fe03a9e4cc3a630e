//! The production cookie rules Twilio applies to a function's `Set-Cookie` headers
//! (RUNTIME §2.8): `HttpOnly` and `Secure` added, `Domain` pinned to the function's own domain,
//! lifetimes of at most a day.

/// Longest cookie lifetime allowed, in seconds.
const MAX_LIFETIME: i64 = 86_400;

/// The 400 body when a cookie lives longer than a day.
pub const TOO_LONG: &str = "Cookies max-age cannot be greater than a day";

/// Rewrites one `Set-Cookie` value; a `Domain` the function set is replaced, none is added. `secure` adds `Secure` (only when the public URL is https:
/// browsers drop Secure cookies over plain http). `now` is Unix seconds, for `Expires`.
pub fn production(
    value: &str,
    domain: &str,
    secure: bool,
    now: i64,
) -> Result<String, &'static str> {
    let mut parts: Vec<String> = Vec::new();
    let (mut http_only, mut has_secure) = (false, false);
    let (mut max_age, mut expires) = (None::<i64>, None::<i64>);
    for (i, part) in value.split(';').map(str::trim).enumerate() {
        if i == 0 {
            parts.push(part.to_owned());
            continue;
        }
        if part.is_empty() {
            continue;
        }
        let (name, attr_value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (part, None),
        };
        if name.eq_ignore_ascii_case("domain") {
            parts.push(format!("Domain={domain}"));
            continue;
        }
        if name.eq_ignore_ascii_case("httponly") {
            http_only = true;
        } else if name.eq_ignore_ascii_case("secure") {
            has_secure = true;
        } else if name.eq_ignore_ascii_case("max-age") {
            // An unparsable Max-Age is ignored by browsers (RFC 6265 §5.2.2).
            max_age = attr_value.and_then(|v| v.parse::<i64>().ok()).or(max_age);
        } else if name.eq_ignore_ascii_case("expires") {
            expires = attr_value
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_secs()).ok())
                .or(expires);
        }
        parts.push(part.to_owned());
    }
    // Max-Age wins over Expires when both are set.
    let lifetime = max_age.or(expires.map(|at| at - now));
    if lifetime.is_some_and(|secs| secs > MAX_LIFETIME) {
        return Err(TOO_LONG);
    }
    if !http_only {
        parts.push("HttpOnly".to_owned());
    }
    if secure && !has_secure {
        parts.push("Secure".to_owned());
    }
    Ok(parts.join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "site-1234-dev.localhost";

    #[test]
    fn http_only_is_added_and_secure_only_under_https() {
        assert_eq!(
            production("tz=UTC;Max-Age=60", D, false, 0).unwrap(),
            "tz=UTC;Max-Age=60;HttpOnly"
        );
        assert_eq!(
            production("tz=UTC; HttpOnly", D, true, 0).unwrap(),
            "tz=UTC;HttpOnly;Secure"
        );
        assert_eq!(
            production("a=1;secure", D, true, 0).unwrap(),
            "a=1;secure;HttpOnly"
        );
    }

    #[test]
    fn the_domain_is_replaced() {
        let out = production("a=1;Domain=evil.test;Path=/", D, false, 0).unwrap();
        assert!(!out.contains("evil.test"), "{out}");
        assert!(out.contains(&format!("Domain={D}")), "{out}");
        assert_eq!(out, format!("a=1;Domain={D};Path=/;HttpOnly"));
    }

    #[test]
    fn lifetimes_over_a_day_are_refused() {
        assert_eq!(production("a=1;Max-Age=90000", D, false, 0), Err(TOO_LONG));
        assert!(production("a=1;Max-Age=86400", D, false, 0).is_ok());
        let now = 1_700_000_000;
        let far = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs((now + 2 * 86_400) as u64),
        );
        let near = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs((now + 3600) as u64),
        );
        assert_eq!(
            production(&format!("a=1;Expires={far}"), D, false, now),
            Err(TOO_LONG)
        );
        assert!(production(&format!("a=1;Expires={near}"), D, false, now).is_ok());
        // Max-Age wins over Expires.
        assert!(production(&format!("a=1;Expires={far};Max-Age=60"), D, false, now).is_ok());
        // Session cookies are fine.
        assert!(production("a=1", D, false, now).is_ok());
    }
}
