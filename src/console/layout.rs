//! The page shell every console page shares, notices and error pages, and small formatters.
//! maud escapes every interpolated string: names, paths and log lines are never markup.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::session::Signed;
use crate::error::ApiError;

/// A message shown at the top of a page: what just happened, or why it did not.
pub enum Notice {
    Done(String),
    Failed(String),
}

impl Notice {
    /// The notice for an error the domain layer reported: its API message, which never holds
    /// internal detail (internal errors are logged here and shown generically).
    pub fn from_error(err: &ApiError) -> Notice {
        log_internal(err);
        Notice::Failed(err.to_string())
    }

    pub fn into_text(self) -> String {
        match self {
            Notice::Done(text) | Notice::Failed(text) => text,
        }
    }
}

fn log_internal(err: &ApiError) {
    if let ApiError::Internal(detail) = err {
        tracing::error!(error = %detail, "console request failed");
    }
}

/// One step of the breadcrumb trail: label and link.
pub type Crumb = (String, String);

/// A whole page: the shell around `body`, answered with `status`.
pub fn page(
    status: StatusCode,
    title: &str,
    signed: Option<&Signed>,
    crumbs: &[Crumb],
    notice: Option<&Notice>,
    body: Markup,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · depot console" }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console/services" { "depot console" }
                    @if let Some(signed) = signed {
                        span.who { "Account " code { (signed.account.sid) }
                            @if let Some(key) = &signed.session.key_sid { " via key " code { (key) } } }
                        form.inline method="post" action="/console/sign-out" {
                            (csrf_field(signed))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                @if !crumbs.is_empty() {
                    nav aria-label="Breadcrumb" {
                        ol.crumbs {
                            @for (label, href) in crumbs {
                                li { a href=(href) { (label) } }
                            }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    @match notice {
                        Some(Notice::Done(text)) => p.notice.done role="status" { (text) },
                        Some(Notice::Failed(text)) => p.notice.failed role="alert" { (text) },
                        None => {},
                    }
                    (body)
                }
            }
        }
    };
    html_response(status, markup.into_string())
}

pub fn html_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// A page that only says what went wrong.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let body = html! {
        p.notice.failed role="alert" { (message) }
        p { a href="/console/services" { "Back to the console" } }
    };
    page(status, "Something went wrong", None, &[], None, body)
}

/// The error page for a domain error, with the API's status and message.
pub fn api_error_page(err: &ApiError) -> Response {
    log_internal(err);
    error_page(err.status(), &err.to_string())
}

/// The hidden field every form of a signed-in page carries.
pub fn csrf_field(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.session.csrf_token); }
}

/// `2026-11-30 18:02:11 UTC`.
pub fn date(secs: i64) -> String {
    crate::clock::format(secs)
        .replacen('T', " ", 1)
        .replace('Z', " UTC")
}

/// Bytes in the largest whole unit: `812 B`, `14.2 KB`, `3.0 MB`.
pub fn size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A short form of a SID for tables: the prefix and the last 6 characters.
pub fn short_sid(sid: &str) -> String {
    match (
        sid.get(..2),
        sid.len().checked_sub(6).and_then(|i| sid.get(i..)),
    ) {
        (Some(prefix), Some(tail)) if sid.len() > 12 => format!("{prefix}…{tail}"),
        _ => sid.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(size(812), "812 B");
        assert_eq!(size(14_540), "14.2 KB");
        assert_eq!(size(3 << 20), "3.0 MB");
    }

    #[test]
    fn hostile_text_is_escaped() {
        let markup = html! { p { ("<script>alert(1)</script>\"'&") } };
        assert_eq!(
            markup.into_string(),
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;&quot;'&amp;</p>"
        );
    }
}
