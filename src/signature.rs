//! `X-Twilio-Signature` validation (COMPAT §11.4).
//!
//! Twilio signs a webhook by taking the full URL it requested (scheme, host, port if any, path
//! and query string exactly as sent), appending every decoded POST form parameter as
//! `name + value` (names de-duplicated and sorted, each name's values de-duplicated and sorted,
//! no separators), and computing base64(HMAC-SHA1(auth token, that string)). Requests with a
//! non-form body (JSON) instead carry `bodySHA256=<lowercase hex SHA-256 of the body>` in the
//! query string, and the signature covers the URL alone. Because proxies and Twilio's own
//! back end disagree on scheme and port, [`is_valid`] accepts a match against any of the
//! `http`/`https` URLs with the port as received, removed, or set to the scheme's default —
//! the same leniency as twilio-python's `RequestValidator`. All comparisons are constant-time.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The query parameter that carries the hex SHA-256 of a non-form body.
const BODY_HASH_PARAM: &str = "bodySHA256";

/// What the asset host knows about a request, for signature checks.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `Host` header value; may include `:port`, and may be a bracketed IPv6 literal.
    pub host: &'a str,
    /// Raw request target as received: path plus `?query` when present.
    pub target: &'a str,
    /// Decoded form parameters, in any order and possibly repeated, when the request is a POST
    /// with an `application/x-www-form-urlencoded` body; otherwise `None`.
    pub form: Option<&'a [(String, String)]>,
    /// Raw body when it is not a form (checked against `bodySHA256`); otherwise `None`.
    pub body: Option<&'a [u8]>,
    /// The `X-Twilio-Signature` header value.
    pub signature: &'a str,
}

/// Computes the signature of `url` + params as Twilio does.
///
/// `url` is used verbatim; `form` may hold repeated names and values in any order.
#[must_use]
pub fn compute(auth_token: &str, url: &str, form: &[(String, String)]) -> String {
    let mut s = String::from(url);
    s.push_str(&param_suffix(form));
    sign(auth_token, &s)
}

/// True when `request.signature` matches any candidate URL for `auth_token`.
///
/// Candidates are `http` and `https`, each with the `Host` as received, with its port removed,
/// and with the scheme's default port added when none was given. Form parameters are appended
/// when `request.form` is set; otherwise the URL alone is signed, and if the query string has a
/// `bodySHA256` parameter and `request.body` is set, the body's hash must equal it too.
#[must_use]
pub fn is_valid(auth_token: &str, request: &SignedRequest<'_>) -> bool {
    if request.signature.is_empty() {
        return false;
    }

    let mut body_ok = Choice::from(1);
    let suffix = match (request.form, request.body) {
        (Some(form), _) => param_suffix(form),
        (None, Some(body)) => {
            if let Some(expected) = body_hash_param(request.target) {
                let actual = hex::encode(Sha256::digest(body));
                body_ok = actual.as_bytes().ct_eq(expected.as_bytes());
            }
            String::new()
        }
        (None, None) => String::new(),
    };

    let provided = request.signature.as_bytes();
    let mut matched = Choice::from(0);
    for mut url in candidate_urls(request.host, request.target) {
        url.push_str(&suffix);
        matched |= sign(auth_token, &url).as_bytes().ct_eq(provided);
    }
    bool::from(matched & body_ok)
}

/// base64(HMAC-SHA1(token, s)), standard alphabet with padding.
fn sign(auth_token: &str, s: &str) -> String {
    // HMAC takes keys of any length, so this never fails; an empty string never matches.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(s.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `name + value` for each distinct name in code-point order, and each of its distinct values in
/// code-point order, concatenated without separators.
fn param_suffix(form: &[(String, String)]) -> String {
    let mut by_name: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in form {
        by_name.entry(name).or_default().insert(value);
    }
    let mut out = String::new();
    for (name, values) in by_name {
        for value in values {
            out.push_str(name);
            out.push_str(value);
        }
    }
    out
}

/// The expected body hash named by the query string, if it has a `bodySHA256` parameter.
///
/// Like Python's `parse_qs`, blank values are skipped and the first other one wins; a parameter
/// present only with blank values yields `""`, which no hash equals.
fn body_hash_param(target: &str) -> Option<String> {
    let (_, query) = target.split_once('?')?;
    let mut present = false;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name == BODY_HASH_PARAM {
            if !value.is_empty() {
                return Some(value.into_owned());
            }
            present = true;
        }
    }
    present.then(String::new)
}

/// Splits a `Host` header value into host and port (the text after the port's `:`, possibly
/// empty). Handles bracketed IPv6 literals; an unbracketed value with several colons has no port.
fn split_port(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        if let Some(end) = host.find(']') {
            let (name, rest) = host.split_at(end + 1);
            if let Some(port) = rest.strip_prefix(':') {
                return (name, Some(port));
            }
        }
        return (host, None);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, Some(port)),
        _ => (host, None),
    }
}

/// Every distinct URL Twilio may have signed for this `Host` and target.
fn candidate_urls(host: &str, target: &str) -> Vec<String> {
    let (name, port) = split_port(host);
    let mut urls: Vec<String> = Vec::with_capacity(6);
    for (scheme, default_port) in [("https", 443), ("http", 80)] {
        let variants = [
            Some(format!("{scheme}://{host}{target}")),
            port.map(|_| format!("{scheme}://{name}{target}")),
            match port {
                None | Some("") => Some(format!("{scheme}://{name}:{default_port}{target}")),
                Some(_) => None,
            },
        ];
        for url in variants.into_iter().flatten() {
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Twilio's published example (twilio-python/-php/-csharp request validator tests).
    fn documented_params() -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }
    const DOC_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOC_SIG: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    /// Token used for the vectors generated with twilio==9.13.0's `RequestValidator`.
    const TOKEN: &str = "d1b2c3e4f5a6b7c8d9e0f1a2b3c4d5e6";

    fn get<'a>(host: &'a str, target: &'a str, signature: &'a str) -> SignedRequest<'a> {
        SignedRequest {
            host,
            target,
            form: None,
            body: None,
            signature,
        }
    }

    #[test]
    fn documented_vector_computes() {
        assert_eq!(compute("12345", DOC_URL, &documented_params()), DOC_SIG);
    }

    #[test]
    fn documented_vector_validates() {
        let form = documented_params();
        let req = SignedRequest {
            form: Some(&form),
            ..get("mycompany.com", "/myapp.php?foo=1&bar=2", DOC_SIG)
        };
        assert!(is_valid("12345", &req));
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut form = documented_params();
        form.reverse();
        assert_eq!(compute("12345", DOC_URL, &form), DOC_SIG);
    }

    #[test]
    fn python_vector_with_other_caller_numbers() {
        // Same shape as the documented example with +12349013030 as Caller/From;
        // expected value from twilio-python's compute_signature.
        let form = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            compute("12345", DOC_URL, &form),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn duplicate_values_are_deduplicated_documented() {
        // twilio's published "array and duplicates" vector.
        let form = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            compute("12345", DOC_URL, &form),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn duplicates_unicode_and_case_sort_by_code_point() {
        // Python: names {"b": ["2","1","2"], "a": ["z","é","Z"], "B": ["x"], "é": ["ü"]}.
        let form = params(&[
            ("b", "2"),
            ("é", "ü"),
            ("a", "z"),
            ("b", "1"),
            ("B", "x"),
            ("a", "é"),
            ("b", "2"),
            ("a", "Z"),
        ]);
        let url = "http://example.com:8080/hook?x=1&y=%20a+b";
        assert_eq!(compute(TOKEN, url, &form), "WbfKNFtqgau12Lb2IpxgbW6XlYg=");
        assert_eq!(param_suffix(&form), "BxaZazaéb1b2éü");
        let deduped = params(&[
            ("a", "Z"),
            ("a", "z"),
            ("a", "é"),
            ("B", "x"),
            ("b", "1"),
            ("b", "2"),
            ("é", "ü"),
        ]);
        assert_eq!(compute(TOKEN, url, &deduped), compute(TOKEN, url, &form));
        let req = SignedRequest {
            form: Some(&form),
            ..get(
                "example.com:8080",
                "/hook?x=1&y=%20a+b",
                "WbfKNFtqgau12Lb2IpxgbW6XlYg=",
            )
        };
        assert!(is_valid(TOKEN, &req));
    }

    #[test]
    fn python_vector_without_params() {
        assert_eq!(
            compute(TOKEN, "https://depot.example/path/to/fn", &[]),
            "0l5x2nX26BpSH+zYKQpHXQ59gx8="
        );
    }

    #[test]
    fn python_vectors_ipv6() {
        let form = params(&[("k", "v")]);
        let with_port = "9VNsGCBX2H2cwIvoW4rigbkKXZM=";
        let without_port = "sG3jQnr0zUgFrzXYQF5/3QrqjOA=";
        assert_eq!(compute(TOKEN, "https://[::1]:8443/x?q=1", &form), with_port);
        assert_eq!(compute(TOKEN, "https://[::1]/x?q=1", &form), without_port);
        for sig in [with_port, without_port] {
            let req = SignedRequest {
                form: Some(&form),
                ..get("[::1]:8443", "/x?q=1", sig)
            };
            assert!(is_valid(TOKEN, &req), "{sig}");
        }
        let req = SignedRequest {
            form: Some(&form),
            ..get("[::1]:9999", "/x?q=1", with_port)
        };
        assert!(!is_valid(TOKEN, &req));
    }

    #[test]
    fn split_port_cases() {
        assert_eq!(split_port("host"), ("host", None));
        assert_eq!(split_port("host:8080"), ("host", Some("8080")));
        assert_eq!(split_port("host:"), ("host", Some("")));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
        assert_eq!(split_port("[::1]:8080"), ("[::1]", Some("8080")));
        assert_eq!(
            split_port("[fe80::1%25eth0]:80"),
            ("[fe80::1%25eth0]", Some("80"))
        );
        assert_eq!(split_port("::1"), ("::1", None));
        assert_eq!(split_port("[::1"), ("[::1", None));
    }

    #[test]
    fn candidates_cover_schemes_and_ports() {
        assert_eq!(
            candidate_urls("h", "/p"),
            [
                "https://h/p",
                "https://h:443/p",
                "http://h/p",
                "http://h:80/p"
            ]
        );
        assert_eq!(
            candidate_urls("h:8443", "/p?q"),
            [
                "https://h:8443/p?q",
                "https://h/p?q",
                "http://h:8443/p?q",
                "http://h/p?q"
            ]
        );
        assert_eq!(
            candidate_urls("[::1]", "/"),
            [
                "https://[::1]/",
                "https://[::1]:443/",
                "http://[::1]/",
                "http://[::1]:80/"
            ]
        );
    }

    #[test]
    fn port_removed_when_signed_without_port() {
        let form = documented_params();
        let sig = compute("12345", "https://host/path", &form);
        let req = SignedRequest {
            form: Some(&form),
            ..get("host:443", "/path", &sig)
        };
        assert!(is_valid("12345", &req));
        // Any port is stripped, like twilio-python's remove_port.
        let req = SignedRequest {
            form: Some(&form),
            ..get("host:8443", "/path", &sig)
        };
        assert!(is_valid("12345", &req));
    }

    #[test]
    fn nondefault_port_kept_when_signed_with_it() {
        let sig = compute("12345", "https://host:8443/x", &[]);
        assert!(is_valid("12345", &get("host:8443", "/x", &sig)));
        assert!(!is_valid("12345", &get("host:9443", "/x", &sig)));
        assert!(!is_valid("12345", &get("host", "/x", &sig)));
    }

    #[test]
    fn default_port_added_when_signed_with_it() {
        let sig = compute("12345", "https://host:443/x", &[]);
        assert!(is_valid("12345", &get("host", "/x", &sig)));
        let sig = compute("12345", "http://host:80/x", &[]);
        assert!(is_valid("12345", &get("host", "/x", &sig)));
        // The default port belongs to its scheme.
        let sig = compute("12345", "https://host:80/x", &[]);
        assert!(!is_valid("12345", &get("host", "/x", &sig)));
    }

    #[test]
    fn http_and_https_both_accepted() {
        let form = documented_params();
        for url in ["http://mycompany.com/a?b=c", "https://mycompany.com/a?b=c"] {
            let sig = compute("12345", url, &form);
            let req = SignedRequest {
                form: Some(&form),
                ..get("mycompany.com", "/a?b=c", &sig)
            };
            assert!(is_valid("12345", &req), "{url}");
        }
        let sig = compute("12345", "ftp://mycompany.com/a?b=c", &form);
        let req = SignedRequest {
            form: Some(&form),
            ..get("mycompany.com", "/a?b=c", &sig)
        };
        assert!(!is_valid("12345", &req));
    }

    #[test]
    fn get_signs_url_with_query_only() {
        let sig = compute("12345", DOC_URL, &[]);
        assert!(is_valid(
            "12345",
            &get("mycompany.com", "/myapp.php?foo=1&bar=2", &sig)
        ));
        // The query string is signed exactly as sent.
        assert!(!is_valid(
            "12345",
            &get("mycompany.com", "/myapp.php?bar=2&foo=1", &sig)
        ));
        assert!(!is_valid(
            "12345",
            &get("mycompany.com", "/myapp.php", &sig)
        ));
    }

    #[test]
    fn body_sha256_variant() {
        let body = "{\"hello\":\"wörld\",\"n\":1}".as_bytes();
        let hash = "a10017d55a5cb777dedfab10d55e4768f7ff7bb1f37c5c758d56e3022be406ae";
        assert_eq!(hex::encode(Sha256::digest(body)), hash);
        let target = format!("/json?bodySHA256={hash}");
        // From twilio-python: compute_signature("https://depot.example" + target, {}).
        let sig = "iMmj7OpLffis7cgWcFm59pWIZJ0=";
        assert_eq!(
            compute(TOKEN, &format!("https://depot.example{target}"), &[]),
            sig
        );
        let good = SignedRequest {
            body: Some(body),
            ..get("depot.example", &target, sig)
        };
        assert!(is_valid(TOKEN, &good));

        // Body altered in transit: hash mismatch.
        let tampered = SignedRequest {
            body: Some(b"{\"hello\":\"world\",\"n\":1}"),
            ..good
        };
        assert!(!is_valid(TOKEN, &tampered));

        // Wrong (but correctly signed) hash in the URL.
        let bad_hash = "0".repeat(64);
        let bad_target = format!("/json?bodySHA256={bad_hash}");
        let bad_sig = compute(TOKEN, &format!("https://depot.example{bad_target}"), &[]);
        let bad = SignedRequest {
            body: Some(body),
            ..get("depot.example", &bad_target, &bad_sig)
        };
        assert!(!is_valid(TOKEN, &bad));

        // Uppercase hex is not the lowercase hash.
        let upper_target = format!("/json?bodySHA256={}", hash.to_uppercase());
        let upper_sig = compute(TOKEN, &format!("https://depot.example{upper_target}"), &[]);
        let upper = SignedRequest {
            body: Some(body),
            ..get("depot.example", &upper_target, &upper_sig)
        };
        assert!(!is_valid(TOKEN, &upper));

        // Present but blank: no hash matches.
        let blank_sig = compute(TOKEN, "https://depot.example/json?bodySHA256=", &[]);
        let blank = SignedRequest {
            body: Some(body),
            ..get("depot.example", "/json?bodySHA256=", &blank_sig)
        };
        assert!(!is_valid(TOKEN, &blank));
    }

    #[test]
    fn body_hash_param_parsing() {
        assert_eq!(body_hash_param("/x"), None);
        assert_eq!(body_hash_param("/x?a=1"), None);
        assert_eq!(
            body_hash_param("/x?bodySHA256=ab&a=1").as_deref(),
            Some("ab")
        );
        assert_eq!(
            body_hash_param("/x?bodySHA256=&bodySHA256=cd").as_deref(),
            Some("cd")
        );
        assert_eq!(body_hash_param("/x?bodySHA256").as_deref(), Some(""));
    }

    #[test]
    fn non_form_body_without_hash_signs_url_alone() {
        let sig = compute("12345", "https://h/x?y=1", &[]);
        let req = SignedRequest {
            body: Some(b"{}"),
            ..get("h", "/x?y=1", &sig)
        };
        assert!(is_valid("12345", &req));
    }

    #[test]
    fn form_ignores_body_hash_param() {
        let form = params(&[("a", "1")]);
        let target = "/x?bodySHA256=ffff";
        let sig = compute("12345", &format!("https://h{target}"), &form);
        let req = SignedRequest {
            form: Some(&form),
            ..get("h", target, &sig)
        };
        assert!(is_valid("12345", &req));
    }

    #[test]
    fn wrong_signature_fails() {
        let form = documented_params();
        let mut req = SignedRequest {
            form: Some(&form),
            ..get(
                "mycompany.com",
                "/myapp.php?foo=1&bar=2",
                "RSOYDt4T1cUTdK1PDd93/VVr8B8",
            )
        };
        assert!(!is_valid("12345", &req));
        req.signature = "SSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(!is_valid("12345", &req));
        req.signature = "FAIL";
        assert!(!is_valid("12345", &req));
    }

    #[test]
    fn empty_signature_fails() {
        let form = documented_params();
        let req = SignedRequest {
            form: Some(&form),
            ..get("mycompany.com", "/myapp.php?foo=1&bar=2", "")
        };
        assert!(!is_valid("12345", &req));
    }

    #[test]
    fn wrong_token_fails() {
        let form = documented_params();
        let req = SignedRequest {
            form: Some(&form),
            ..get("mycompany.com", "/myapp.php?foo=1&bar=2", DOC_SIG)
        };
        assert!(!is_valid("12346", &req));
        assert!(!is_valid("", &req));
    }

    #[test]
    fn tampered_request_fails() {
        let form = documented_params();
        let ok = SignedRequest {
            form: Some(&form),
            ..get("mycompany.com", "/myapp.php?foo=1&bar=2", DOC_SIG)
        };
        assert!(!is_valid(
            "12345",
            &SignedRequest {
                host: "evil.com",
                ..ok
            }
        ));
        assert!(!is_valid(
            "12345",
            &SignedRequest {
                target: "/myapp.php?foo=1&bar=2&x=1",
                ..ok
            }
        ));
        assert!(!is_valid("12345", &SignedRequest { form: None, ..ok }));
        let mut extra = form.clone();
        extra.push(("Extra".to_owned(), "1".to_owned()));
        assert!(!is_valid(
            "12345",
            &SignedRequest {
                form: Some(&extra),
                ..ok
            }
        ));
    }
}
