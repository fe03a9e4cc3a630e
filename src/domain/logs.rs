//! Logs (COMPAT §5.12): written by the asset host for function requests, listed newest first.

use crate::domain::sid::{self, Prefix};
use crate::domain::{environments, Ctx};
use crate::error::ApiError;
use crate::store::{Environment, Log, LogFilter, Page, PageRequest};
use crate::AppState;

/// What a function request records while depot cannot run functions (COMPAT §11.6).
pub const NOT_EXECUTED: &str = "Function execution is not supported by depot";

/// Parses the ListLog filters: RFC 3339 dates and a Function SID.
pub fn filter(
    start: Option<&str>,
    end: Option<&str>,
    function_sid: Option<&str>,
) -> Result<LogFilter, ApiError> {
    let date = |name: &str, value: Option<&str>| -> Result<Option<i64>, ApiError> {
        value
            .map(|v| {
                crate::clock::parse_rfc3339(v).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Invalid {name}: {}",
                        crate::domain::names::truncate_for_message(v)
                    ))
                })
            })
            .transpose()
    };
    let now = crate::clock::now();
    let start = date("StartDate", start)?.unwrap_or(now - 24 * 3600);
    let end = date("EndDate", end)?;
    if let Some(function) = function_sid {
        if !sid::is_valid(Prefix::Container, function) {
            return Err(ApiError::invalid(format!(
                "Invalid FunctionSid: {}",
                crate::domain::names::truncate_for_message(function)
            )));
        }
    }
    Ok(LogFilter {
        start: Some(start),
        // Without EndDate, "now" is whatever is newest: logs written this second count.
        end,
        function_sid: function_sid.map(str::to_owned),
    })
}

pub async fn list(
    state: &AppState,
    environment: &Environment,
    filter: &LogFilter,
    page: PageRequest,
) -> Result<Page<Log>, ApiError> {
    Ok(state
        .store
        .list_logs(&environment.sid, filter, page)
        .await?)
}

/// Resolves Service, Environment and a Log SID.
pub async fn resolve(
    state: &AppState,
    ctx: &Ctx,
    (service, environment, sid): (&str, &str, &str),
) -> Result<Log, ApiError> {
    let (_, environment) = environments::resolve(state, ctx, service, environment).await?;
    if !sid::is_valid(Prefix::Log, sid) {
        return Err(ctx.not_found());
    }
    ctx.found(state.store.log(&environment.sid, sid).await)
}
