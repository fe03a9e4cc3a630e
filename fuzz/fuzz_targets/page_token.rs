//! `depot::http::pagination`: a decoded `PageToken` re-encodes to a token that decodes to the
//! same cursor; `Paging::from_query` never panics and what it returns is consistent.
#![no_main]

use depot::http::extract::Params;
use depot::http::pagination::{decode_token, encode_token, Paging};
use depot::store::Cursor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The whole input as a token.
    if let Ok(token) = std::str::from_utf8(data) {
        round_trips(token);
    }

    // Any non-negative position encodes to a token that decodes back.
    if data.len() >= 8 {
        let seq = i64::from_le_bytes(data[..8].try_into().expect("8 bytes")) & i64::MAX;
        for cursor in [Cursor::After(seq), Cursor::Before(seq)] {
            let token = encode_token(cursor).expect("a keyset cursor has a token");
            assert_eq!(decode_token(&token), Some(cursor), "{token:?}");
        }
    }

    // The whole input as a query string.
    let query = Params::parse(data);
    if let Ok(paging) = Paging::from_query(&query) {
        assert!((1..=1000).contains(&paging.size), "{paging:?}");
        assert_eq!(paging.token.as_deref(), query.get("PageToken"));
        match &paging.token {
            Some(token) => {
                assert_eq!(Some(paging.cursor), decode_token(token), "{paging:?}");
                round_trips(token);
            }
            None => assert_eq!(
                paging.cursor,
                Cursor::Offset(paging.page.saturating_mul(u64::from(paging.size)))
            ),
        }
        let _ = paging.request();
    }
});

fn round_trips(token: &str) {
    let Some(cursor) = decode_token(token) else {
        return;
    };
    assert!(
        matches!(cursor, Cursor::After(s) | Cursor::Before(s) if s >= 0),
        "{token:?} -> {cursor:?}"
    );
    let again = encode_token(cursor)
        .unwrap_or_else(|| panic!("{token:?} -> {cursor:?} cannot be re-encoded"));
    assert!(again.starts_with("PT"), "{again:?}");
    assert_eq!(
        decode_token(&again),
        Some(cursor),
        "{token:?} -> {cursor:?} -> {again:?}"
    );
}
