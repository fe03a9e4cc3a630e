//! Log endpoints: ListLog (newest first, with StartDate, EndDate, FunctionSid) and FetchLog.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::clock;
use crate::domain::{environments, logs as domain, Ctx};
use crate::error::ApiError;
use crate::http::extract::{PathParams, Query};
use crate::http::json;
use crate::http::pagination::{respond, Paging};
use crate::store::Log;
use crate::AppState;

/// Spec `serverless.v1.service.environment.log`.
#[derive(Serialize)]
pub struct LogBody<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    environment_sid: &'a str,
    build_sid: Option<&'a str>,
    deployment_sid: Option<&'a str>,
    function_sid: Option<&'a str>,
    request_sid: &'a str,
    level: &'a str,
    message: &'a str,
    date_created: String,
    url: String,
}

impl<'a> LogBody<'a> {
    pub fn new(base: &str, l: &'a Log) -> Self {
        LogBody {
            sid: &l.sid,
            account_sid: &l.account_sid,
            service_sid: &l.service_sid,
            environment_sid: &l.environment_sid,
            build_sid: l.build_sid.as_deref(),
            deployment_sid: l.deployment_sid.as_deref(),
            function_sid: l.function_sid.as_deref(),
            request_sid: &l.request_sid,
            level: &l.level,
            message: &l.message,
            date_created: clock::format(l.date_created),
            url: format!(
                "{base}/v1/Services/{}/Environments/{}/Logs/{}",
                l.service_sid, l.environment_sid, l.sid
            ),
        }
    }
}

/// `StartDate=…&EndDate=…&FunctionSid=…&`, the filters the client gave, for `meta` URLs.
fn filter_query(query: &crate::http::extract::Params) -> String {
    let mut out = String::new();
    for name in ["StartDate", "EndDate", "FunctionSid"] {
        if let Some(value) = query.get(name) {
            let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            out.push_str(&format!("{name}={encoded}&"));
        }
    }
    out
}

pub async fn list_log(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, environment)): PathParams<(String, String)>,
    Query(query): Query,
) -> Result<Response, ApiError> {
    let (service, environment) =
        environments::resolve(&state, &ctx, &service, &environment).await?;
    let paging = Paging::from_query(&query)?;
    let filter = domain::filter(
        query.get("StartDate"),
        query.get("EndDate"),
        query.get("FunctionSid"),
    )?;
    let page = domain::list(&state, &environment, &filter, paging.request()).await?;
    let list_url = format!(
        "{}/v1/Services/{}/Environments/{}/Logs?{}",
        ctx.base,
        service.sid,
        environment.sid,
        filter_query(&query)
    );
    Ok(respond("logs", &list_url, &paging, &page, |l| {
        LogBody::new(&ctx.base, l)
    }))
}

pub async fn fetch_log(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, environment, sid)): PathParams<(String, String, String)>,
) -> Result<Response, ApiError> {
    let log = domain::resolve(&state, &ctx, (&service, &environment, &sid)).await?;
    Ok(json(StatusCode::OK, &LogBody::new(&ctx.base, &log)))
}
