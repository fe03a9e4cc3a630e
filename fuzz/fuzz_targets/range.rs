//! `depot::host::files::parse_range`: any `Span(start, end)` has `start < end <= length`.
//!
//! Input: 8 bytes (little-endian representation length), then the `Range` header as UTF-8.
//! The first byte picks how `length` is read, so that small lengths are common.
#![no_main]

use depot::host::files::{parse_range, RangeAsked};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (head, rest) = data.split_at(9);
    let raw = u64::from_le_bytes(head[1..9].try_into().expect("8 bytes"));
    let length = match head[0] % 4 {
        0 => raw % 256,
        1 => raw % 65_536,
        2 => u64::MAX - (raw % 256),
        _ => raw,
    };
    let Ok(header) = std::str::from_utf8(rest) else {
        return;
    };
    match parse_range(header, length) {
        RangeAsked::Span(start, end) => {
            assert!(start < end, "{header:?} / {length}: empty span {start}..{end}");
            assert!(end <= length, "{header:?} / {length}: {start}..{end} past the end");
        }
        RangeAsked::Unsatisfiable | RangeAsked::Ignore => {}
    }
});
