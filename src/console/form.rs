//! Form bodies of the console's pages: decoded pairs (names may repeat) whose `csrf` field must
//! be the session's token before anything else is looked at.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;

use super::session::Signed;
use super::{csrf, layout};

/// The decoded fields of a form, in order.
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &Bytes) -> Fields {
        Fields(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, unless empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether the form carries the session's CSRF token; without it, answer [`refused`].
    pub fn csrf_ok(&self, signed: &Signed) -> bool {
        csrf::token_matches(&signed.session.csrf_token, self.get("csrf"))
    }
}

/// The answer to a change without the session's token.
pub fn refused() -> Response {
    layout::error_page(
        StatusCode::FORBIDDEN,
        "This form is out of date or did not come from the console: nothing was changed. \
         Reload the page and try again.",
    )
}
