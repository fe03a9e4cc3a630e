//! `depot::host::is_environment_domain` and `depot::host::host_without_port` on arbitrary UTF-8.
//!
//! Input: `host` and `host_domain` separated by the first `\n` (no `\n`: the whole input is the
//! host, under `depot.example`).
#![no_main]

use depot::host::{host_without_port, is_environment_domain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (host, host_domain) = text.split_once('\n').unwrap_or((text, "depot.example"));

    // host_without_port: the host itself, or the host minus `:` and ASCII digits.
    for h in [host, text] {
        let bare = host_without_port(h);
        assert!(h.starts_with(bare), "{h:?} -> {bare:?}: not a prefix");
        if bare.len() != h.len() {
            let cut = &h[bare.len()..];
            let port = cut.strip_prefix(':').unwrap_or_else(|| panic!("{h:?}: cut {cut:?}"));
            assert!(port.bytes().all(|b| b.is_ascii_digit()), "{h:?}: port {port:?}");
        }
        // A bracketed IPv6 literal keeps its brackets.
        if h.starts_with('[') && h.contains(']') {
            assert!(bare.starts_with('[') && bare.contains(']'), "{h:?} -> {bare:?}");
        }
        // Never panics on what the asset host would pass it.
        let _ = is_environment_domain(bare, host_domain);
    }

    let recognised = is_environment_domain(host, host_domain);
    if recognised {
        assert!(host.len() <= 253, "{host:?}: longer than a DNS name");
        let split = host
            .len()
            .checked_sub(host_domain.len() + 1)
            .unwrap_or_else(|| panic!("{host:?} shorter than .{host_domain:?}"));
        assert_eq!(host.as_bytes()[split], b'.', "{host:?} / {host_domain:?}");
        assert!(
            host.as_bytes()[split + 1..].eq_ignore_ascii_case(host_domain.as_bytes()),
            "{host:?} does not end with .{host_domain:?}"
        );
        // The environment label: 1..=63 of [A-Za-z0-9-], starting alphanumeric, holding a
        // `-NNNN` group after a name.
        let label = &host[..split];
        assert!(!label.is_empty() && label.len() <= 63, "{label:?}");
        assert!(label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{label:?}");
        assert!(label.as_bytes()[0].is_ascii_alphanumeric(), "{label:?}");
        let has_group = label.as_bytes().windows(5).enumerate().any(|(i, w)| {
            i > 0 && w[0] == b'-' && w[1..].iter().all(u8::is_ascii_digit)
        });
        assert!(has_group, "{label:?}: no -NNNN group");
    }

    // Case never matters, on either side.
    assert_eq!(
        recognised,
        is_environment_domain(&host.to_ascii_uppercase(), host_domain),
        "{host:?} / {host_domain:?}: host case changed the answer"
    );
    assert_eq!(
        recognised,
        is_environment_domain(host, &host_domain.to_ascii_lowercase()),
        "{host:?} / {host_domain:?}: host_domain case changed the answer"
    );
});
