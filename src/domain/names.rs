//! Rules for the names clients choose (COMPAT §6.1): lengths, character sets, booleans.

use crate::domain::sid::{self, Prefix};
use crate::error::ApiError;

/// `FriendlyName` of Services, Assets and Functions: 1..=255 characters.
pub fn friendly_name(value: &str) -> Result<(), ApiError> {
    if value.chars().count() > 255 {
        return Err(ApiError::invalid(
            "Invalid FriendlyName: must be at most 255 characters",
        ));
    }
    Ok(())
}

/// A Service `UniqueName` becomes a DNS label, so only letters, digits and inner hyphens,
/// at most 50 characters, and never something that could be mistaken for a Service SID.
pub fn service_unique_name(value: &str) -> Result<(), ApiError> {
    let bytes = value.as_bytes();
    let charset_ok = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    let ends_ok = bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if bytes.len() > 50 || !charset_ok || !ends_ok {
        return Err(ApiError::invalid(format!(
            "Invalid UniqueName: {}: use at most 50 letters, digits and inner hyphens",
            truncate_for_message(value)
        )));
    }
    if sid::is_valid(Prefix::Service, value) {
        return Err(ApiError::invalid(
            "Invalid UniqueName: must not have the form of a Service SID",
        ));
    }
    Ok(())
}

/// A free-form name such as an Environment `UniqueName` or a Variable `Key`: 1..=`max`
/// characters without control characters (COMPAT §6.1).
pub fn label(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "Invalid {name}: must be at most {max} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "Invalid {name}: must not contain control characters"
        )));
    }
    Ok(())
}

/// Booleans are `true` / `false`, case-insensitively (COMPAT §2.3).
pub fn boolean(name: &str, value: &str) -> Result<bool, ApiError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ApiError::invalid(format!(
            "Invalid {name}: {}: expected true or false",
            truncate_for_message(value)
        )))
    }
}

/// Client text echoed into an error message, cut so a huge value cannot bloat the answer.
pub fn truncate_for_message(value: &str) -> String {
    truncate_chars(value, 64)
}

/// `value` cut to `max` characters, with `…` marking a cut.
pub fn truncate_chars(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        None => value.to_owned(),
        Some((end, _)) => format!("{}…", &value[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_unique_name_accepts_dns_labels() {
        for ok in ["a", "my-app", "A1", &"x".repeat(50), "a-b-c"] {
            assert!(service_unique_name(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn service_unique_name_rejects_bad_shapes() {
        let sid_like = "ZS0123456789abcdef0123456789abcdef";
        for bad in [
            "-a",
            "a-",
            "a b",
            "a_b",
            "ä",
            &"x".repeat(51),
            sid_like,
            "a.b",
        ] {
            assert!(service_unique_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn friendly_name_counts_characters_not_bytes() {
        assert!(friendly_name(&"é".repeat(255)).is_ok());
        assert!(friendly_name(&"é".repeat(256)).is_err());
    }

    #[test]
    fn booleans_are_case_insensitive_words() {
        assert!(boolean("X", "TRUE").unwrap());
        assert!(!boolean("X", "false").unwrap());
        assert!(boolean("X", "1").is_err());
        assert!(boolean("X", "yes").is_err());
    }

    #[test]
    fn long_values_are_truncated_in_messages() {
        let long = "y".repeat(5000);
        assert_eq!(truncate_for_message(&long).chars().count(), 65);
    }
}
