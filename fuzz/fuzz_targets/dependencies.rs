//! `depot::domain::builds::parse_dependencies`: never panics; Ok entries have a non-empty name
//! and a non-empty version.
#![no_main]

use depot::domain::builds::parse_dependencies;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(deps) = parse_dependencies(text) {
        for dep in &deps {
            assert!(!dep.name.is_empty(), "{text:?} -> {deps:?}: empty name");
            assert!(!dep.version.is_empty(), "{text:?} -> {deps:?}: empty version");
        }
        // Depot's own JSON form of the list parses back to the same list.
        let json = serde_json_array(&deps);
        let again = parse_dependencies(&json)
            .unwrap_or_else(|e| panic!("{text:?}: re-parse of {json:?} failed: {e:?}"));
        assert_eq!(again, deps, "{text:?}");
    }
});

/// `[{"name":…,"version":…},…]` written by hand (JSON string escaping of each field).
fn serde_json_array(deps: &[depot::domain::builds::Dependency]) -> String {
    let mut out = String::from("[");
    for (i, dep) in deps.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_json_string(&mut out, &dep.name);
        out.push_str(",\"version\":");
        push_json_string(&mut out, &dep.version);
        out.push('}');
    }
    out.push(']');
    out
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
