//! `depot::signature`: `is_valid` never panics on arbitrary requests, and accepts what
//! `compute` signs for the URLs Twilio may have used (module docs of src/signature.rs):
//! `http`/`https` with the `Host` as received, with its port removed, or with the scheme's
//! default port added when none was given; form parameters in any order and repeated; a
//! `bodySHA256` query parameter that matches the body.
#![no_main]

use depot::signature::{compute, is_valid, SignedRequest};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    token: &'a str,
    host: &'a str,
    target: &'a str,
    form: Vec<(String, String)>,
    body: Option<&'a [u8]>,
    use_form: bool,
    signature: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let Input {
        token,
        host,
        target,
        ref form,
        body,
        use_form,
        signature,
    } = input;
    let form_opt = use_form.then_some(form.as_slice());

    // Arbitrary fields: no panic; an empty signature never passes.
    let arbitrary = SignedRequest {
        host,
        target,
        form: form_opt,
        body,
        signature,
    };
    let valid = is_valid(token, &arbitrary);
    if signature.is_empty() {
        assert!(!valid, "empty signature accepted: {input:?}");
    }

    // Parameter order and repeats do not change a signature.
    let url = format!("http://{host}{target}");
    let sig = compute(token, &url, form);
    let mut reversed = form.clone();
    reversed.reverse();
    assert_eq!(compute(token, &url, &reversed), sig, "order mattered: {input:?}");
    let mut doubled = form.clone();
    doubled.extend(form.iter().cloned());
    assert_eq!(compute(token, &url, &doubled), sig, "repeats mattered: {input:?}");

    // A form request signed over `http(s)://{host}{target}` passes, whatever the body.
    for scheme in ["http", "https"] {
        let url = format!("{scheme}://{host}{target}");
        let sig = compute(token, &url, form);
        let req = SignedRequest {
            form: Some(form),
            signature: &sig,
            ..arbitrary
        };
        assert!(is_valid(token, &req), "{url:?} with form rejected: {input:?}");
        // One character changed: rejected.
        let tampered = tamper(&sig);
        assert!(
            !is_valid(token, &SignedRequest { signature: &tampered, ..req }),
            "tampered signature accepted: {input:?}"
        );
    }

    // Other URL variants Twilio may have signed.
    for url in variants(host, target) {
        let sig = compute(token, &url, form);
        let req = SignedRequest {
            form: Some(form),
            signature: &sig,
            ..arbitrary
        };
        assert!(is_valid(token, &req), "{url:?} rejected: {input:?}");
    }
    // Another scheme is never accepted.
    let ftp = compute(token, &format!("ftp://{host}{target}"), form);
    let req = SignedRequest {
        form: Some(form),
        signature: &ftp,
        ..arbitrary
    };
    assert!(!is_valid(token, &req), "ftp URL accepted: {input:?}");

    // Without a form the URL alone is signed; a body is checked against `bodySHA256`.
    let sig = compute(token, &url, &[]);
    let plain = SignedRequest {
        form: None,
        body: None,
        signature: &sig,
        ..arbitrary
    };
    assert!(is_valid(token, &plain), "GET rejected: {input:?}");
    if let Some(body) = body {
        let with_body = SignedRequest {
            body: Some(body),
            ..plain
        };
        let expected = match body_hash_param(target) {
            None => true,
            Some(hash) => hash == hex::encode(Sha256::digest(body)),
        };
        assert_eq!(is_valid(token, &with_body), expected, "body check: {input:?}");

        // A target carrying the body's real hash passes; another body does not.
        let path = target.split('?').next().unwrap_or_default();
        let hashed = format!("{path}?bodySHA256={}", hex::encode(Sha256::digest(body)));
        let sig = compute(token, &format!("https://{host}{hashed}"), &[]);
        let good = SignedRequest {
            host,
            target: &hashed,
            form: None,
            body: Some(body),
            signature: &sig,
        };
        assert!(is_valid(token, &good), "{hashed:?} rejected: {input:?}");
        let mut other = body.to_vec();
        other.push(0);
        assert!(
            !is_valid(token, &SignedRequest { body: Some(&other), ..good }),
            "altered body accepted: {input:?}"
        );
    }
});

/// URL variants the module docs promise beyond `{scheme}://{host}{target}`.
fn variants(host: &str, target: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bracketed = host.starts_with('[');
    // `name:port` (one colon, not an IPv6 literal): the port may be removed.
    if !bracketed && host.matches(':').count() == 1 {
        let (name, _) = host.split_once(':').expect("one colon");
        for scheme in ["http", "https"] {
            out.push(format!("{scheme}://{name}{target}"));
        }
    }
    // No port given: the scheme's default may be added.
    let has_port = if bracketed {
        host.find(']').is_some_and(|end| host[end + 1..].starts_with(':'))
    } else {
        host.contains(':')
    };
    let plain_ipv6 = !bracketed && host.matches(':').count() > 1;
    if !has_port && !plain_ipv6 {
        out.push(format!("http://{host}:80{target}"));
        out.push(format!("https://{host}:443{target}"));
    }
    out
}

/// The first non-blank `bodySHA256` in the query (blank only: `""`), like Python's `parse_qs`.
fn body_hash_param(target: &str) -> Option<String> {
    let (_, query) = target.split_once('?')?;
    let mut present = false;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name == "bodySHA256" {
            if !value.is_empty() {
                return Some(value.into_owned());
            }
            present = true;
        }
    }
    present.then(String::new)
}

/// `sig` with its first character replaced by a different one.
fn tamper(sig: &str) -> String {
    let mut chars: Vec<char> = sig.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}
