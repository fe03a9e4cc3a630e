//! An environment's logs, newest first, and the feed the page's script polls to follow them
//! live. The feed is JSON and the script inserts it as text, so a log line never becomes markup.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Serialize;

use super::super::layout::{self, date};
use super::super::session::Signed;
use super::first;
use crate::domain::{environments, logs};
use crate::store::{Log, LogFilter};
use crate::AppState;

/// Lines shown, and lines a feed answer holds at most.
const SHOWN: u32 = 100;

pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path((service, environment)): Path<(String, String)>,
) -> Response {
    let (service, env) =
        match environments::resolve(&state, &signed.ctx, &service, &environment).await {
            Ok(found) => found,
            Err(err) => return layout::api_error_page(&err),
        };
    let lines = match logs::list(&state, &env, &LogFilter::default(), first(SHOWN)).await {
        Ok(page) => page.items,
        Err(err) => return layout::api_error_page(&err),
    };
    let svc = format!("/console/services/{}", service.sid);
    let base = format!("{svc}/environments/{}", env.sid);
    let after = lines.iter().map(|l| l.seq).max().unwrap_or(0);
    let body = html! {
        p { label.check { input #follow type="checkbox" checked; "Follow live (new lines appear at the top)" } }
        p.muted data-log-status aria-live="polite" { "Newest first." }
        @if lines.is_empty() {
            p.empty data-log-empty { "No logs yet. Functions of this environment write here when they run "
                code { "console.log" } "; invoke one and its lines appear below." }
        }
        div.table-wrap { table data-feed=(format!("{base}/logs.json")) data-after=(after) {
            caption.muted { "Logs of " (env.unique_name) ", newest first" }
            thead { tr { th { "Date" } th { "Level" } th { "Message" } th.wide-only { "Request" } } }
            tbody { @for line in &lines { tr {
                td { (date(line.date_created)) }
                td class=(format!("log-level-{}", line.level.to_ascii_lowercase())) { (line.level) }
                td { (line.message) }
                td.mono.wide-only { (line.request_sid) }
            } } }
        } }
    };
    let crumbs = [
        ("Services".to_owned(), "/console/services".to_owned()),
        (service.friendly_name.clone(), svc),
        (format!("Environment {}", env.unique_name), base),
    ];
    let title = format!("Logs of {}", env.unique_name);
    layout::page(StatusCode::OK, &title, Some(&signed), &crumbs, None, body)
}

#[derive(Serialize)]
struct Feed<'a> {
    logs: Vec<FeedLine<'a>>,
}

#[derive(Serialize)]
struct FeedLine<'a> {
    seq: i64,
    date: String,
    level: &'a str,
    message: &'a str,
    request_sid: &'a str,
}

/// Lines newer than `?after=SEQ`, newest first.
pub async fn feed(
    State(state): State<AppState>,
    signed: Signed,
    Path((service, environment)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let after: i64 = query
        .as_deref()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "after")
                .and_then(|(_, v)| v.parse().ok())
        })
        .unwrap_or(0);
    let lines: Result<Vec<Log>, _> = async {
        let (_, env) = environments::resolve(&state, &signed.ctx, &service, &environment).await?;
        Ok(
            logs::list(&state, &env, &LogFilter::default(), first(SHOWN))
                .await?
                .items,
        )
    }
    .await;
    match lines {
        Ok(lines) => {
            let feed = Feed {
                logs: lines
                    .iter()
                    .filter(|l| l.seq > after)
                    .map(|l| FeedLine {
                        seq: l.seq,
                        date: date(l.date_created),
                        level: &l.level,
                        message: &l.message,
                        request_sid: &l.request_sid,
                    })
                    .collect(),
            };
            crate::http::json(StatusCode::OK, &feed)
        }
        Err(err) => {
            use axum::response::IntoResponse;
            let err: crate::error::ApiError = err;
            err.into_response()
        }
    }
}
