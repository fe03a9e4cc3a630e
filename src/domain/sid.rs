//! Twilio SIDs: a two-letter prefix and 32 lowercase hex digits (COMPAT §2.5).

use rand::RngCore;

/// The SID prefixes depot issues or accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Account,
    /// API keys (COMPAT §16).
    Key,
    Service,
    Environment,
    Variable,
    Deployment,
    Build,
    /// Assets and Functions share `ZH`.
    Container,
    /// Asset Versions and Function Versions share `ZN`.
    Version,
    Log,
    Request,
}

impl Prefix {
    pub const fn as_str(self) -> &'static str {
        match self {
            Prefix::Account => "AC",
            Prefix::Key => "SK",
            Prefix::Service => "ZS",
            Prefix::Environment => "ZE",
            Prefix::Variable => "ZV",
            Prefix::Deployment => "ZD",
            Prefix::Build => "ZB",
            Prefix::Container => "ZH",
            Prefix::Version => "ZN",
            Prefix::Log => "NO",
            Prefix::Request => "RQ",
        }
    }
}

/// A fresh random SID with lowercase hex, as serverless-api's `isSid` requires.
pub fn generate(prefix: Prefix) -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    let mut sid = String::with_capacity(34);
    sid.push_str(prefix.as_str());
    sid.push_str(&hex::encode(bytes));
    sid
}

/// A new SID of `prefix` in a buffer on the stack: for the request id every response carries,
/// where two allocations per request would show.
pub fn generate_bytes(prefix: Prefix) -> [u8; 34] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut random = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut random);
    let mut sid = [0u8; 34];
    sid[..2].copy_from_slice(prefix.as_str().as_bytes());
    for (i, byte) in random.iter().enumerate() {
        sid[2 + 2 * i] = HEX[usize::from(byte >> 4)];
        sid[3 + 2 * i] = HEX[usize::from(byte & 0x0f)];
    }
    sid
}

/// Whether `value` matches the spec's pattern `^{prefix}[0-9a-fA-F]{32}$`.
pub fn is_valid(prefix: Prefix, value: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix.as_str())
        && value.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

/// Whether `value` is an Account SID as the bootstrap contract demands: lowercase hex only.
pub fn is_canonical(prefix: Prefix, value: &str) -> bool {
    is_valid(prefix, value)
        && value.as_bytes()[2..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_sids_are_valid_and_differ() {
        let a = generate_bytes(Prefix::Request);
        let b = generate_bytes(Prefix::Request);
        let a = std::str::from_utf8(&a).unwrap();
        assert!(is_valid(Prefix::Request, a), "{a}");
        assert_ne!(a.as_bytes(), &b[..]);
    }

    #[test]
    fn generated_sids_are_34_lowercase_hex_characters() {
        for prefix in [
            Prefix::Service,
            Prefix::Container,
            Prefix::Version,
            Prefix::Log,
        ] {
            let sid = generate(prefix);
            assert_eq!(sid.len(), 34);
            assert!(sid.starts_with(prefix.as_str()));
            assert!(is_canonical(prefix, &sid), "{sid}");
        }
        assert_ne!(generate(Prefix::Service), generate(Prefix::Service));
    }

    #[test]
    fn validation_accepts_the_spec_pattern_only() {
        let good = "ZH0123456789abcdef0123456789ABCDEF";
        assert!(is_valid(Prefix::Container, good));
        assert!(!is_canonical(Prefix::Container, good));
        assert!(!is_valid(Prefix::Service, good));
        assert!(!is_valid(Prefix::Container, &good[..33]));
        assert!(!is_valid(Prefix::Container, &format!("{good}0")));
        assert!(!is_valid(
            Prefix::Container,
            "ZH0123456789abcdef0123456789abcdeg"
        ));
        assert!(!is_valid(
            Prefix::Container,
            "ZH0123456789abcdef0123456789abcd\0f"
        ));
        assert!(!is_valid(
            Prefix::Container,
            "ZH0123456789abcdef0123456789abcdé"
        ));
        assert!(!is_valid(Prefix::Container, ""));
    }
}
