//! Build endpoints: ListBuild, CreateBuild, FetchBuild, DeleteBuild, FetchBuildStatus.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::clock;
use crate::domain::builds::{self as domain, Dependency, NewBuild};
use crate::domain::{services, Ctx};
use crate::error::ApiError;
use crate::http::extract::{Form, PathParams, Query};
use crate::http::json;
use crate::http::pagination::{respond, Paging};
use crate::store::{BuildDetail, Version};
use crate::AppState;

/// A version as embedded in a Build: no `url`, visibility in capitals (COMPAT §5.9).
#[derive(Serialize)]
struct EmbeddedVersion<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset_sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_sid: Option<&'a str>,
    date_created: String,
    path: &'a str,
    visibility: String,
}

impl<'a> EmbeddedVersion<'a> {
    fn new(v: &'a Version, is_asset: bool) -> Self {
        EmbeddedVersion {
            sid: &v.sid,
            account_sid: &v.account_sid,
            service_sid: &v.service_sid,
            asset_sid: is_asset.then_some(v.container_sid.as_str()),
            function_sid: (!is_asset).then_some(v.container_sid.as_str()),
            date_created: clock::format(v.date_created),
            path: &v.path,
            visibility: v.visibility.as_str().to_ascii_uppercase(),
        }
    }
}

/// Spec `serverless.v1.service.build`.
#[derive(Serialize)]
pub struct BuildBody<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    asset_versions: Vec<EmbeddedVersion<'a>>,
    function_versions: Vec<EmbeddedVersion<'a>>,
    dependencies: Vec<Dependency>,
    runtime: &'a str,
    status: &'a str,
    date_created: String,
    date_updated: String,
    url: String,
    links: BuildLinks,
}

#[derive(Serialize)]
struct BuildLinks {
    build_status: String,
}

impl<'a> BuildBody<'a> {
    pub fn new(base: &str, d: &'a BuildDetail) -> Self {
        let b = &d.build;
        let url = format!("{base}/v1/Services/{}/Builds/{}", b.service_sid, b.sid);
        BuildBody {
            sid: &b.sid,
            account_sid: &b.account_sid,
            service_sid: &b.service_sid,
            asset_versions: d
                .assets
                .iter()
                .map(|v| EmbeddedVersion::new(v, true))
                .collect(),
            function_versions: d
                .functions
                .iter()
                .map(|v| EmbeddedVersion::new(v, false))
                .collect(),
            dependencies: serde_json::from_str(&b.dependencies).unwrap_or_default(),
            runtime: &b.runtime,
            status: b.status.as_str(),
            date_created: clock::format(b.date_created),
            date_updated: clock::format(b.date_updated),
            links: BuildLinks {
                build_status: format!("{url}/Status"),
            },
            url,
        }
    }
}

pub async fn list_build(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(service): PathParams<String>,
    Query(query): Query,
) -> Result<Response, ApiError> {
    let service = services::resolve(&state, &ctx, &service).await?;
    let paging = Paging::from_query(&query)?;
    let page = domain::list(&state, &service, paging.request()).await?;
    let list_url = format!("{}/v1/Services/{}/Builds?", ctx.base, service.sid);
    Ok(respond("builds", &list_url, &paging, &page, |d| {
        BuildBody::new(&ctx.base, d)
    }))
}

pub async fn create_build(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(service): PathParams<String>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let input = NewBuild {
        asset_versions: form.all("AssetVersions").collect(),
        function_versions: form.all("FunctionVersions").collect(),
        dependencies: form.get("Dependencies"),
        runtime: form.get("Runtime"),
    };
    let created = domain::create(&state, &ctx, &service, input).await?;
    Ok(json(
        StatusCode::CREATED,
        &BuildBody::new(&ctx.base, &created),
    ))
}

pub async fn fetch_build(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, sid)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let detail = domain::resolve(&state, &ctx, &service, &sid).await?;
    Ok(json(StatusCode::OK, &BuildBody::new(&ctx.base, &detail)))
}

pub async fn delete_build(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, sid)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    domain::delete(&state, &ctx, &service, &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Spec `serverless.v1.service.build.build_status`.
#[derive(Serialize)]
struct BuildStatusBody<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    status: &'a str,
    url: String,
}

pub async fn fetch_build_status(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, sid)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let detail = domain::resolve(&state, &ctx, &service, &sid).await?;
    let b = &detail.build;
    let body = BuildStatusBody {
        sid: &b.sid,
        account_sid: &b.account_sid,
        service_sid: &b.service_sid,
        status: b.status.as_str(),
        url: format!(
            "{}/v1/Services/{}/Builds/{}/Status",
            ctx.base, b.service_sid, b.sid
        ),
    };
    Ok(json(StatusCode::OK, &body))
}
