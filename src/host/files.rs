//! Serving one file the way nginx does: exact bytes, stored type, strong ETag,
//! `Last-Modified`, 304 on `If-None-Match` / `If-Modified-Since`, a single `Range` (206/416),
//! precompressed gzip/brotli chosen by `Accept-Encoding`, and HEAD.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures_util::TryStreamExt;

use super::sites::{Encoding, File};
use crate::domain::versions::Visibility;
use crate::AppState;

/// Answers GET or HEAD for `file`. A precompressed copy that cannot be read whole is never
/// served: the file is answered uncompressed, and the copy is skipped from then on.
pub async fn serve(
    state: &AppState,
    file: &File,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // Ranges address the identity bytes, so a range request is never compressed.
    let encoding = match range {
        Some(_) => None,
        None => choose_encoding(file, headers),
    };
    let answered = match respond(state, file, encoding, method, headers, range).await {
        Err(err) if encoding.is_some() => {
            if let Some(e) = encoding {
                if !e.broken.swap(true, Ordering::Relaxed) {
                    tracing::warn!(sha256 = %file.sha256, encoding = e.key, error = %err,
                        "precompressed copy unreadable: serving the original");
                }
            }
            respond(state, file, None, method, headers, range).await
        }
        other => other,
    };
    answered.unwrap_or_else(|err| {
        tracing::error!(sha256 = %file.sha256, error = %err, "cannot read asset content");
        if err.is_unavailable() {
            return super::plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n");
        }
        super::plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n")
    })
}

/// The answer in representation `encoding` (identity when `None`).
async fn respond(
    state: &AppState,
    file: &File,
    encoding: Option<&Encoding>,
    method: &Method,
    headers: &HeaderMap,
    range: Option<&str>,
) -> Result<Response, crate::blob::BlobError> {
    let (etag, length, key) = match encoding {
        Some(e) => (&e.etag, e.size, e.key),
        None => (&file.etag, file.size, ""),
    };

    let mut response = Response::new(Body::empty());
    let h = response.headers_mut();
    h.reserve(8);
    h.insert(header::ETAG, etag.clone());
    h.insert(header::LAST_MODIFIED, file.last_modified.clone());
    h.insert(header::CACHE_CONTROL, cache_control(file.visibility));
    if !file.encodings.is_empty() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if not_modified(file, etag, headers) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(response);
    }
    h.insert(header::CONTENT_TYPE, file.content_type.clone());
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(e) = encoding {
        h.insert(header::CONTENT_ENCODING, e.name.clone());
    }

    let span = match range.map(|r| parse_range(r, length)) {
        Some(RangeAsked::Unsatisfiable) => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let h = response.headers_mut();
            h.insert(header::CONTENT_RANGE, value(&format!("bytes */{length}")));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            return Ok(response);
        }
        Some(RangeAsked::Span(start, end)) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_RANGE,
                value(&format!("bytes {start}-{}/{length}", end - 1)),
            );
            Some((start, end))
        }
        Some(RangeAsked::Ignore) | None => None,
    };
    let (start, end) = span.unwrap_or((0, length));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if method == Method::HEAD {
        return Ok(response);
    }
    *response.body_mut() = body(state, file, key, length, (start, end)).await?;
    Ok(response)
}

/// The bytes `[start, end)` of the representation `key`, from memory when possible. The
/// stored object must have exactly `length` bytes: a copy cut short is an error, not a body.
async fn body(
    state: &AppState,
    file: &File,
    key: &'static str,
    length: u64,
    (start, end): (u64, u64),
) -> Result<Body, crate::blob::BlobError> {
    let encoding = (!key.is_empty()).then_some(key);
    if let Some(bytes) = state.sites.cached(&file.sha256, key) {
        return Ok(Body::from(slice(bytes, start, end)));
    }
    if state.sites.cacheable(length) {
        let bytes = state.blobs.read_encoded(&file.sha256, encoding).await?;
        if bytes.len() as u64 != length {
            return Err(crate::blob::BlobError::Size {
                expected: length,
                found: bytes.len() as u64,
            });
        }
        state.sites.remember(&file.sha256, key, bytes.clone());
        return Ok(Body::from(slice(bytes, start, end)));
    }
    let range = (start, end) != (0, length);
    let stream = state
        .blobs
        .stream(&file.sha256, encoding, length, range.then_some(start..end))
        .await?;
    Ok(Body::from_stream(stream.map_err(std::io::Error::other)))
}

fn slice(bytes: Bytes, start: u64, end: u64) -> Bytes {
    let (start, end) = (start as usize, end as usize);
    if start == 0 && end == bytes.len() {
        bytes
    } else {
        bytes.slice(start.min(bytes.len())..end.min(bytes.len()))
    }
}

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""))
}

/// Public files may be cached but must be revalidated, so a new deployment shows at once;
/// protected ones are for the signed caller only.
fn cache_control(visibility: Visibility) -> HeaderValue {
    match visibility {
        Visibility::Public => HeaderValue::from_static("public, max-age=0, must-revalidate"),
        _ => HeaderValue::from_static("private, no-cache"),
    }
}

/// The best precompressed copy the client accepts: brotli, then gzip.
fn choose_encoding<'f>(file: &'f File, headers: &HeaderMap) -> Option<&'f Encoding> {
    if file.encodings.is_empty() {
        return None;
    }
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())?;
    let accepts = |name: &str| {
        accept.split(',').any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let q_zero = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            coding.eq_ignore_ascii_case(name) && !q_zero
        })
    };
    file.encodings.iter().find(|e| {
        if e.broken.load(Ordering::Relaxed) {
            return false;
        }
        let name = e.name.to_str().unwrap_or_default();
        accepts(name) || (name == "gzip" && accepts("x-gzip"))
    })
}

/// `If-None-Match` (weak comparison), else `If-Modified-Since` (RFC 9110 §13.2.2).
fn not_modified(file: &File, etag: &HeaderValue, headers: &HeaderMap) -> bool {
    if let Some(list) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        let ours = etag.to_str().unwrap_or_default();
        return list.split(',').any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours
        });
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .and_then(|since| since.duration_since(std::time::UNIX_EPOCH).ok())
        .is_some_and(|since| file.modified_secs <= i64::try_from(since.as_secs()).unwrap_or(0))
}

/// What a `Range` header asks of a representation of `length` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAsked {
    /// Bytes `[start, end)`.
    Span(u64, u64),
    Unsatisfiable,
    /// Not a single byte range depot understands: serve the whole file.
    Ignore,
}

pub fn parse_range(header: &str, length: u64) -> RangeAsked {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeAsked::Ignore;
    };
    if spec.contains(',') {
        return RangeAsked::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsked::Ignore;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match number(last) {
            Some(n) if n > 0 && length > 0 => RangeAsked::Span(length.saturating_sub(n), length),
            Some(_) => RangeAsked::Unsatisfiable,
            None => RangeAsked::Ignore,
        },
        // bytes=N-: from N to the end.
        (false, true) => match number(first) {
            Some(start) if start < length => RangeAsked::Span(start, length),
            Some(_) => RangeAsked::Unsatisfiable,
            None => RangeAsked::Ignore,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= length {
                    RangeAsked::Unsatisfiable
                } else {
                    RangeAsked::Span(start, end.saturating_add(1).min(length))
                }
            }
            _ => RangeAsked::Ignore,
        },
        (true, true) => RangeAsked::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeAsked::Span(0, 10));
        assert_eq!(parse_range("bytes=90-", 100), RangeAsked::Span(90, 100));
        assert_eq!(parse_range("bytes=-10", 100), RangeAsked::Span(90, 100));
        assert_eq!(parse_range("bytes=-500", 100), RangeAsked::Span(0, 100));
        assert_eq!(parse_range("bytes=50-500", 100), RangeAsked::Span(50, 100));
        assert_eq!(parse_range("bytes=100-", 100), RangeAsked::Unsatisfiable);
        assert_eq!(parse_range("bytes=200-300", 100), RangeAsked::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeAsked::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), RangeAsked::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeAsked::Ignore);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAsked::Ignore);
        assert_eq!(parse_range("items=0-1", 100), RangeAsked::Ignore);
        assert_eq!(parse_range("bytes=x-y", 100), RangeAsked::Ignore);
    }
}
