//! A function path on the asset host, end to end (RUNTIME §6.12): method, header and body
//! limits, signature, context, the invocation itself, then the response with the production
//! cookie rules, and the invocation's Logs.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::pool::{Outcome, Target};
use super::protocol::{Context, Invoke, LogLine, Reply};
use super::{cookies, headers};
use crate::domain::logs;
use crate::domain::sid::{self, Prefix};
use crate::host::{self, File, SiteView};
use crate::store::{Cursor, Log, PageRequest, ServiceKey, StoreError};
use crate::AppState;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What the host knows when it hands a function request over.
pub struct Request {
    pub site: Arc<SiteView>,
    /// The environment's domain: lowercase, no port.
    pub domain: String,
    pub file: Arc<File>,
    pub path: String,
}

/// Answers a request for a public or protected function (private ones are 404 before this,
/// OPTIONS is answered by the host).
///
/// The invocation runs in a task of its own: a client that goes away must neither stop the
/// function (Twilio runs it to its end) nor lose its Logs, nor cost a worker killed mid-frame.
pub async fn function(state: &AppState, req: Request, parts: Parts, body: Body) -> Response {
    let state = state.clone();
    let task = tokio::spawn(async move {
        let request_sid = sid::generate(Prefix::Request);
        let mut response = answer(&state, &req, &request_sid, parts, body).await;
        if let Ok(value) = HeaderValue::from_str(&request_sid) {
            response.headers_mut().insert("twilio-request-id", value);
        }
        response
    });
    match task.await {
        Ok(response) => response,
        Err(err) => {
            tracing::error!(error = %err, "function invocation task failed");
            host::plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n")
        }
    }
}

async fn answer(
    state: &AppState,
    req: &Request,
    request_sid: &str,
    parts: Parts,
    body: Body,
) -> Response {
    if parts.method != Method::GET && parts.method != Method::POST {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed\n".into(),
        );
        response.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        return response;
    }
    let lines = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
    if !headers::within_limits(lines) {
        return text(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request headers or cookies too long\n".into(),
        );
    }
    let limit = state.config.runtime.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large();
    }
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return too_large();
    };
    if req.file.visibility == crate::domain::versions::Visibility::Protected
        && !host::signed(state, &req.site, &parts, Some(&body)).await
    {
        return host::plain(StatusCode::FORBIDDEN, "Forbidden\n");
    }
    if let Some(reason) = state.pools.unavailable() {
        // Logged too, so that `depot logs` shows why nothing ran.
        record(
            state,
            req,
            request_sid,
            Vec::new(),
            vec![("error", reason.to_owned())],
        )
        .await;
        return text(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n"));
    }
    let Some(build_sid) = req.site.build_sid.as_deref() else {
        return host::plain(StatusCode::NOT_FOUND, "Not Found\n");
    };
    let context = match context(state, req, &parts).await {
        Ok(context) => context,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read a function's context");
            return host::plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n");
        }
    };
    let invoke = Invoke {
        id: request_sid.to_owned(),
        method: parts.method.as_str().to_owned(),
        url: parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned()),
        headers: headers::for_function(&parts.headers),
        body: B64.encode(&body),
        file: Default::default(),
        context,
    };
    let target = Target {
        account_sid: &req.site.account_sid,
        service_sid: &req.site.service_sid,
        environment_sid: &req.site.environment_sid,
        build_sid,
        path: &req.path,
    };
    let invocation = state.pools.invoke(state, &target, invoke).await;
    let mut notes = Vec::new();
    let response = match invocation.outcome {
        Outcome::Reply(reply) => {
            if let Some(error) = &reply.error {
                notes.push(("error", error.clone()));
            }
            respond(state, req, reply, &mut notes)
        }
        Outcome::Busy => {
            notes.push((
                "warn",
                "too many concurrent function executions for the account".to_owned(),
            ));
            text(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests: the account's concurrent function executions are at their limit\n"
                    .into(),
            )
        }
        Outcome::TimedOut(elapsed) => {
            notes.push((
                "error",
                format!(
                    "runtime application timed out after {} ms",
                    elapsed.as_millis()
                ),
            ));
            text(StatusCode::GATEWAY_TIMEOUT, "Gateway Time-out\n".into())
        }
        Outcome::Failed(reason) => {
            notes.push(("error", reason));
            host::plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n")
        }
    };
    record(state, req, request_sid, invocation.logs, notes).await;
    response
}

/// `context` for this invocation: Variables are read now, so a change applies to the next
/// execution without a redeploy.
async fn context(state: &AppState, req: &Request, parts: &Parts) -> Result<Context, String> {
    let site = &req.site;
    let host = host::request_host(&parts.uri, &parts.headers).unwrap_or_default();
    let domain_name = match host.strip_prefix(host::host_without_port(host)) {
        Some(port) if !port.is_empty() => format!("{}{port}", req.domain),
        _ => req.domain.clone(),
    };
    let service = state
        .store
        .service(&site.account_sid, ServiceKey::Sid(&site.service_sid))
        .await
        .map_err(|e| e.to_string())?;
    let (account_sid, auth_token) = if service.include_credentials {
        let account = state
            .accounts
            .lookup(state.store.as_ref(), &site.account_sid)
            .await
            .map_err(|e| format!("{e:?}"))?;
        match account {
            Some(account) => (Some(account.sid), Some(account.auth_token)),
            None => (None, None),
        }
    } else {
        (None, None)
    };
    Ok(Context {
        path: req.path.clone(),
        domain_name,
        service_sid: site.service_sid.clone(),
        environment_sid: site.environment_sid.clone(),
        account_sid,
        auth_token,
        vars: variables(state, &site.environment_sid)
            .await
            .map_err(|e| e.to_string())?,
    })
}

async fn variables(
    state: &AppState,
    environment_sid: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    let mut vars = BTreeMap::new();
    let mut cursor = Cursor::Offset(0);
    loop {
        let page = state
            .store
            .list_variables(environment_sid, PageRequest { cursor, size: 1000 })
            .await?;
        let last = page.items.last().map(|v| v.seq);
        for variable in page.items {
            vars.insert(variable.key, variable.value);
        }
        match (page.has_next, last) {
            (true, Some(seq)) => cursor = Cursor::After(seq),
            _ => return Ok(vars),
        }
    }
}

/// The worker's reply as an HTTP response, with the production cookie rules and limits.
fn respond(
    state: &AppState,
    req: &Request,
    reply: Reply,
    notes: &mut Vec<(&'static str, String)>,
) -> Response {
    let failed = |notes: &mut Vec<(&'static str, String)>, why: String| {
        notes.push(("error", why));
        host::plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n")
    };
    let Ok(status) = StatusCode::from_u16(reply.status) else {
        return failed(notes, format!("invalid status code {}", reply.status));
    };
    let body = match B64.decode(reply.body.as_bytes()) {
        Ok(body) => body,
        Err(e) => return failed(notes, format!("worker sent a body that is not base64: {e}")),
    };
    if body.len() > state.config.runtime.max_body_bytes {
        return failed(
            notes,
            format!(
                "response body of {} bytes is over the {} byte limit",
                body.len(),
                state.config.runtime.max_body_bytes
            ),
        );
    }
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let now = crate::clock::now();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in reply.headers {
        if headers::owned_by_depot(&name) {
            continue;
        }
        let value = if name.eq_ignore_ascii_case("set-cookie") {
            match cookies::production(&value, &req.domain, secure, now) {
                Ok(cookie) => cookie,
                Err(message) => {
                    notes.push(("error", message.to_owned()));
                    return text(StatusCode::BAD_REQUEST, format!("{message}\n"));
                }
            }
        } else {
            value
        };
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(name), Ok(value)) => {
                response.headers_mut().append(name, value);
            }
            _ => notes.push((
                "warn",
                format!("response header {name:?} dropped: not a valid HTTP header"),
            )),
        }
    }
    let lines = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()));
    if !headers::within_limits(lines) {
        notes.push(("error", "Response headers or cookies too long".to_owned()));
        return text(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Response headers or cookies too long\n".into(),
        );
    }
    response
}

/// Writes the invocation's console lines (the last `log_bytes` of them) and depot's own notes.
async fn record(
    state: &AppState,
    req: &Request,
    request_sid: &str,
    console: Vec<LogLine>,
    notes: Vec<(&'static str, String)>,
) {
    let kept = keep_last(console, state.config.runtime.log_bytes);
    let lines = kept
        .into_iter()
        .map(|l| (level(&l.level), l.message))
        .chain(notes);
    for (level, message) in lines {
        let log = Log {
            seq: 0,
            sid: sid::generate(Prefix::Log),
            account_sid: req.site.account_sid.clone(),
            service_sid: req.site.service_sid.clone(),
            environment_sid: req.site.environment_sid.clone(),
            build_sid: req.site.build_sid.clone(),
            deployment_sid: req.site.deployment_sid.clone(),
            function_sid: Some(req.file.container_sid.clone()),
            request_sid: request_sid.to_owned(),
            level: level.to_owned(),
            message,
            date_created: crate::clock::now(),
        };
        logs::record(state, &log).await;
    }
}

/// The Log levels depot writes; anything else a worker says is `info`.
fn level(level: &str) -> &'static str {
    match level {
        "warn" => "warn",
        "error" => "error",
        _ => "info",
    }
}

/// The last `budget` bytes of console output: earliest whole messages dropped, then the oldest
/// remaining one cut from its start (RUNTIME §6.11).
fn keep_last(lines: Vec<LogLine>, budget: usize) -> Vec<LogLine> {
    let mut left = budget;
    let mut kept = Vec::new();
    for mut line in lines.into_iter().rev() {
        if left == 0 {
            break;
        }
        if line.message.len() > left {
            let mut cut = line.message.len() - left;
            while !line.message.is_char_boundary(cut) {
                cut += 1;
            }
            line.message.drain(..cut);
            left = 0;
        } else {
            left -= line.message.len();
        }
        kept.push(line);
    }
    kept.reverse();
    kept
}

fn text(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn too_large() -> Response {
    text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large\n".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str) -> LogLine {
        LogLine {
            id: "RQ".into(),
            level: "info".into(),
            message: message.into(),
        }
    }

    #[test]
    fn logs_keep_their_last_bytes() {
        let lines = vec![line("aaaa"), line("bbbb"), line("cccc")];
        let kept: Vec<String> = keep_last(lines.clone(), 6)
            .into_iter()
            .map(|l| l.message)
            .collect();
        assert_eq!(kept, ["bb", "cccc"]);
        assert_eq!(keep_last(lines.clone(), 100).len(), 3);
        assert!(keep_last(lines, 0).is_empty());
        let kept = keep_last(vec![line("éé")], 3);
        assert_eq!(kept[0].message, "é", "cut on a character boundary");
    }
}
