//! The console's pages, one file per part of the product.

pub mod builds;
pub mod environments;
pub mod logs;
pub mod services;
pub mod sign_in;

use axum::http::HeaderMap;
use axum::response::Response;

use super::layout::Notice;
use crate::store::{Cursor, PageRequest};

/// The newest `size` rows of a list kept in creation order (still oldest first).
pub fn newest(size: u32) -> PageRequest {
    PageRequest {
        cursor: Cursor::Before(i64::MAX),
        size,
    }
}

/// The first `size` rows of a list.
pub fn first(size: u32) -> PageRequest {
    PageRequest {
        cursor: Cursor::Offset(0),
        size,
    }
}

/// What a redirect after a change says happened: `?done=` names one of these fixed messages,
/// so no text from a URL ever reaches a page.
pub fn done_notice(query: Option<&str>) -> Option<Notice> {
    let code = form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v.into_owned())?;
    let text = match code.as_str() {
        "service-created" => "Service created.",
        "service-deleted" => "Service deleted.",
        "environment-created" => "Environment created.",
        "deployed" => "Deployed: the environment now serves this build.",
        "deploy-pending" => {
            "Build started: it will be deployed to the chosen environment once it completes."
        }
        "build-created" => "Build started.",
        "build-failed" => "The build failed, so nothing was deployed: see below why.",
        "variable-added" => "Variable added.",
        "variable-saved" => "Variable saved.",
        "variable-deleted" => "Variable deleted.",
        "uploaded" => "Files uploaded.",
        "signed-out" => "You are signed out.",
        _ => return None,
    };
    Some(Notice::Done(text.to_owned()))
}

/// The link to an environment's domain as a browser reaches it from the console: the same
/// scheme and port as the console itself.
pub fn domain_url(https: bool, headers: &HeaderMap, uri: &axum::http::Uri, domain: &str) -> String {
    let host = crate::host::request_host(uri, headers).unwrap_or_default();
    let bare = crate::host::host_without_port(host);
    let port = host.get(bare.len()..).unwrap_or_default();
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{domain}{port}/")
}

/// A 303 to `path` with a `done` code.
pub fn done(path: &str, code: &str) -> Response {
    super::see_other(&format!("{path}?done={code}"))
}
