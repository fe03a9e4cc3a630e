//! `depot::domain::versions::normalize_path` against COMPAT §7.3, checked both ways: an Ok
//! path is the input (with `/` prepended when missing), starts with `/`, has at most 255
//! characters, no `.`/`..` segment, no `?`, `#` or control character (U+0000–U+001F, U+007F);
//! and every input that meets those rules is accepted.
#![no_main]

use depot::domain::versions::normalize_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let expected = if raw.starts_with('/') {
        raw.to_owned()
    } else {
        format!("/{raw}")
    };
    let meets_rules = expected.chars().count() <= 255
        && !expected
            .chars()
            .any(|c| c.is_ascii_control() || c == '?' || c == '#')
        && !expected.split('/').any(|s| s == "." || s == "..");

    match normalize_path(raw) {
        Ok(path) => {
            assert!(path.starts_with('/'), "{raw:?} -> {path:?}");
            assert!(path.chars().count() <= 255, "{raw:?}: too long");
            assert!(
                !path.split('/').any(|s| s == "." || s == ".."),
                "{raw:?} -> {path:?}: dot segment"
            );
            assert!(
                !path.chars().any(|c| c == '?' || c == '#' || c.is_ascii_control()),
                "{raw:?} -> {path:?}: forbidden character"
            );
            assert_eq!(path, expected, "{raw:?}: not stored verbatim");
            assert!(meets_rules);
            // Normalising twice changes nothing.
            assert_eq!(normalize_path(&path).ok().as_deref(), Some(path.as_str()));
        }
        Err(_) => assert!(!meets_rules, "{raw:?}: a valid path was rejected"),
    }
});
