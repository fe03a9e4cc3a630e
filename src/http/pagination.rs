//! Twilio paging (COMPAT §3): `PageSize`, `Page`, opaque `PageToken`, and the list envelope
//! `{<key>: [...], meta: {...}}` with absolute URLs.
//!
//! A token is `PT` + base64url of `a<seq>` (rows after `seq`) or `b<seq>` (the page that ends
//! before `seq`), so a deep page is a keyset read, as cheap as the first.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use crate::error::ApiError;
use crate::http::extract::Params;
use crate::http::json_out::{JsonOut, WriteJson};
use crate::store::{Cursor, Page, PageRequest, Positioned};

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 1000;

/// The paging parameters of one list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub size: u32,
    pub page: u64,
    /// The token as the client sent it, echoed in `meta.url`.
    pub token: Option<String>,
    pub cursor: Cursor,
}

impl Paging {
    /// Reads `PageSize`, `Page` and `PageToken`; above 1000 is clamped, other bad values are
    /// 400 / 20001.
    pub fn from_query(query: &Params) -> Result<Paging, ApiError> {
        let size = match query.get("PageSize") {
            None => DEFAULT_PAGE_SIZE,
            Some(raw) => match unsigned(raw) {
                Some(0) | None => return Err(invalid("PageSize", raw)),
                Some(n) => n.min(u64::from(MAX_PAGE_SIZE)) as u32,
            },
        };
        let page = match query.get("Page") {
            None => 0,
            Some(raw) => unsigned(raw).ok_or_else(|| invalid("Page", raw))?,
        };
        let token = query.get("PageToken").map(str::to_owned);
        let cursor = match &token {
            Some(t) => decode_token(t).ok_or_else(|| invalid("PageToken", t))?,
            None => Cursor::Offset(page.saturating_mul(u64::from(size))),
        };
        Ok(Paging {
            size,
            page,
            token,
            cursor,
        })
    }

    pub fn request(&self) -> PageRequest {
        PageRequest {
            cursor: self.cursor,
            size: self.size,
        }
    }
}

/// A non-negative decimal integer; values beyond `u64` saturate (the schema sets no bound).
fn unsigned(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(raw.parse::<u64>().unwrap_or(u64::MAX))
}

fn invalid(name: &str, value: &str) -> ApiError {
    ApiError::invalid(format!(
        "Invalid {name}: {}",
        crate::domain::names::truncate_for_message(value)
    ))
}

pub fn encode_token(cursor: Cursor) -> Option<String> {
    let raw = match cursor {
        Cursor::After(seq) => format!("a{seq}"),
        Cursor::Before(seq) => format!("b{seq}"),
        Cursor::Offset(_) => return None,
    };
    Some(format!("PT{}", URL_SAFE_NO_PAD.encode(raw)))
}

pub fn decode_token(token: &str) -> Option<Cursor> {
    let bytes = URL_SAFE_NO_PAD.decode(token.strip_prefix("PT")?).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (kind, number) = text.split_at_checked(1)?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: i64 = number.parse().ok()?;
    match kind {
        "a" => Some(Cursor::After(seq)),
        "b" => Some(Cursor::Before(seq)),
        _ => None,
    }
}

/// The `meta` block of a list response.
#[derive(Debug)]
pub struct Meta {
    pub first_page_url: String,
    pub key: &'static str,
    pub next_page_url: Option<String>,
    pub page: u64,
    pub page_size: u32,
    pub previous_page_url: Option<String>,
    pub url: String,
}

impl Meta {
    /// `list_url` is `{base}{path}?{filters}` (ending in `?` or `&`); `first_seq`/`last_seq`
    /// are the positions of the page's first and last rows.
    pub fn build<T: Positioned>(
        key: &'static str,
        list_url: &str,
        paging: &Paging,
        page: &Page<T>,
    ) -> Meta {
        let ps = paging.size;
        let at = |page_no: u64, token: Option<String>| match token {
            Some(t) => format!("{list_url}PageSize={ps}&Page={page_no}&PageToken={t}"),
            None => format!("{list_url}PageSize={ps}&Page={page_no}"),
        };
        let next_page_url = match (page.has_next, page.items.last()) {
            (true, Some(last)) => Some(at(
                paging.page.saturating_add(1),
                encode_token(Cursor::After(last.seq())),
            )),
            _ => None,
        };
        let previous_page_url = match paging.page {
            0 => None,
            1 => Some(at(0, None)),
            p => Some(at(
                p - 1,
                page.items
                    .first()
                    .and_then(|first| encode_token(Cursor::Before(first.seq()))),
            )),
        };
        Meta {
            first_page_url: at(0, None),
            key,
            next_page_url,
            page: paging.page,
            page_size: ps,
            previous_page_url,
            url: at(paging.page, paging.token.clone()),
        }
    }
}

/// A list page as a 200 response: `key` names the list, `list_url` is
/// `{base}{path}?{filters}` and `render` turns each row into its resource body.
pub fn respond<'a, T: Positioned, B: Serialize>(
    key: &'static str,
    list_url: &str,
    paging: &Paging,
    page: &'a Page<T>,
    render: impl Fn(&'a T) -> B,
) -> axum::response::Response {
    envelope(key, list_url, paging, page, |out, item| {
        out.serialize(&render(item))
    })
}

/// [`respond`] for bodies that write their own JSON.
pub fn respond_json<'a, T: Positioned, B: WriteJson>(
    key: &'static str,
    list_url: &str,
    paging: &Paging,
    page: &'a Page<T>,
    render: impl Fn(&'a T) -> B,
) -> axum::response::Response {
    envelope(key, list_url, paging, page, |out, item| {
        render(item).write_json(out)
    })
}

/// `{<key>: items, "meta": meta}`: exactly the two keys of COMPAT §3.1.
fn envelope<'a, T: Positioned>(
    key: &'static str,
    list_url: &str,
    paging: &Paging,
    page: &'a Page<T>,
    mut write: impl FnMut(&mut JsonOut, &'a T),
) -> axum::response::Response {
    let meta = Meta::build(key, list_url, paging, page);
    let mut out = JsonOut::with_capacity(512 + 512 * page.items.len());
    out.raw("{\"");
    out.raw(key);
    out.raw("\":[");
    for (n, item) in page.items.iter().enumerate() {
        if n > 0 {
            out.raw(",");
        }
        write(&mut out, item);
    }
    out.raw("],\"meta\":");
    meta.write_json(&mut out);
    out.raw("}");
    crate::http::json_response(axum::http::StatusCode::OK, out.into_bytes())
}

impl WriteJson for Meta {
    /// The fields in the order Twilio shows them.
    fn write_json(&self, out: &mut JsonOut) {
        out.raw("{\"first_page_url\":");
        out.string(&self.first_page_url);
        out.raw(",\"key\":");
        out.string(self.key);
        out.raw(",\"next_page_url\":");
        out.optional(self.next_page_url.as_deref());
        out.raw(",\"page\":");
        out.number(self.page);
        out.raw(",\"page_size\":");
        out.number(u64::from(self.page_size));
        out.raw(",\"previous_page_url\":");
        out.optional(self.previous_page_url.as_deref());
        out.raw(",\"url\":");
        out.string(&self.url);
        out.raw("}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Positioned for i64 {
        fn seq(&self) -> i64 {
            *self
        }
    }

    fn paging(query: &str) -> Result<Paging, ApiError> {
        Paging::from_query(&Params::parse(query.as_bytes()))
    }

    #[test]
    fn tokens_round_trip() {
        for cursor in [Cursor::After(0), Cursor::After(987_654), Cursor::Before(12)] {
            let token = encode_token(cursor).unwrap();
            assert!(token.starts_with("PT"));
            assert_eq!(decode_token(&token), Some(cursor));
        }
    }

    #[test]
    fn foreign_tokens_are_rejected() {
        for bad in [
            "", "PT", "XYZ", "PT!!", "PTYQ", "PTeDEy", "PTYS0x", "PTYTF4",
        ] {
            assert_eq!(decode_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn page_size_defaults_clamps_and_rejects() {
        assert_eq!(paging("").unwrap().size, 50);
        assert_eq!(paging("PageSize=5000").unwrap().size, 1000);
        assert_eq!(
            paging("PageSize=99999999999999999999999").unwrap().size,
            1000
        );
        assert_eq!(
            paging("Page=99999999999999999999999").unwrap().page,
            u64::MAX
        );
        assert!(paging("PageSize=+5").is_err());
        assert!(paging("PageSize=0").is_err());
        assert!(paging("PageSize=-1").is_err());
        assert!(paging("PageSize=ten").is_err());
        assert!(paging("Page=-1").is_err());
        assert!(paging("PageToken=nope").is_err());
    }

    #[test]
    fn page_without_token_is_an_offset() {
        let p = paging("PageSize=10&Page=3").unwrap();
        assert_eq!(p.cursor, Cursor::Offset(30));
        let token = encode_token(Cursor::After(7)).unwrap();
        let p = paging(&format!("PageSize=10&Page=3&PageToken={token}")).unwrap();
        assert_eq!(p.cursor, Cursor::After(7));
    }

    #[test]
    fn meta_links_pages_with_tokens() {
        let p = paging("PageSize=2&Page=2&PageToken=PTYTQ").unwrap();
        let page = Page {
            items: vec![5i64, 6],
            has_next: true,
        };
        let meta = Meta::build("assets", "http://h/v1/X?", &p, &page);
        assert_eq!(meta.first_page_url, "http://h/v1/X?PageSize=2&Page=0");
        assert_eq!(meta.url, "http://h/v1/X?PageSize=2&Page=2&PageToken=PTYTQ");
        let next = meta.next_page_url.unwrap();
        assert!(next.starts_with("http://h/v1/X?PageSize=2&Page=3&PageToken=PT"));
        let prev = meta.previous_page_url.unwrap();
        assert!(prev.starts_with("http://h/v1/X?PageSize=2&Page=1&PageToken=PT"));
    }

    #[test]
    fn last_page_has_no_next() {
        let p = paging("").unwrap();
        let page = Page {
            items: vec![1i64],
            has_next: false,
        };
        let meta = Meta::build("services", "http://h/v1/Services?", &p, &page);
        assert_eq!(meta.next_page_url, None);
        assert_eq!(meta.previous_page_url, None);
        let mut out = JsonOut::with_capacity(0);
        meta.write_json(&mut out);
        let written: serde_json::Value = serde_json::from_slice(&out.into_bytes()).unwrap();
        assert_eq!(
            written,
            serde_json::json!({
                "first_page_url": "http://h/v1/Services?PageSize=50&Page=0",
                "key": "services",
                "next_page_url": null,
                "page": 0,
                "page_size": 50,
                "previous_page_url": null,
                "url": "http://h/v1/Services?PageSize=50&Page=0"
            })
        );
    }
}
