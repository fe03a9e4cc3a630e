//! Function Version endpoints: ListFunctionVersion, the upload (create, multipart, COMPAT §7),
//! FetchFunctionVersion and FetchFunctionVersionContent.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::domain::{versions as domain, Ctx};
use crate::error::ApiError;
use crate::http::extract::{PathParams, Query};
use crate::http::{json, versions};
use crate::store::ContainerKind::Function;
use crate::AppState;

pub async fn list_function_version(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, function)): PathParams<(String, String)>,
    Query(query): Query,
) -> Result<Response, ApiError> {
    versions::list(&state, &ctx, Function, (&service, &function), &query).await
}

pub async fn create_function_version(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, function)): PathParams<(String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    versions::create(&state, &ctx, Function, (&service, &function), req).await
}

pub async fn fetch_function_version(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, function, sid)): PathParams<(String, String, String)>,
) -> Result<Response, ApiError> {
    versions::fetch(&state, &ctx, Function, (&service, &function, &sid)).await
}

/// Spec `serverless.v1.service.function.function_version.function_version_content`.
#[derive(Serialize)]
struct ContentBody<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    function_sid: &'a str,
    content: String,
    url: String,
}

pub async fn fetch_function_version_content(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, function, sid)): PathParams<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (_, version) = domain::resolve(&state, &ctx, Function, (&service, &function, &sid)).await?;
    let content = domain::content(&state, &version).await?;
    let url = format!(
        "{}/v1/Services/{}/Functions/{}/Versions/{}/Content",
        ctx.base, version.service_sid, version.container_sid, version.sid
    );
    let body = ContentBody {
        sid: &version.sid,
        account_sid: &version.account_sid,
        service_sid: &version.service_sid,
        function_sid: &version.container_sid,
        content,
        url,
    };
    Ok(json(StatusCode::OK, &body))
}
