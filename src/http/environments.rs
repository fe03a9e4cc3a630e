//! Environment endpoints: ListEnvironment, CreateEnvironment, FetchEnvironment,
//! DeleteEnvironment.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::clock;
use crate::domain::{environments as domain, services, Ctx};
use crate::error::ApiError;
use crate::http::extract::{Form, PathParams, Query};
use crate::http::json;
use crate::http::pagination::{respond, Paging};
use crate::store::Environment;
use crate::AppState;

/// Spec `serverless.v1.service.environment`.
#[derive(Serialize)]
pub struct EnvironmentBody<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    build_sid: Option<&'a str>,
    unique_name: &'a str,
    domain_suffix: Option<&'a str>,
    domain_name: &'a str,
    date_created: String,
    date_updated: String,
    url: String,
    links: EnvironmentLinks,
}

#[derive(Serialize)]
struct EnvironmentLinks {
    variables: String,
    deployments: String,
    logs: String,
}

impl<'a> EnvironmentBody<'a> {
    pub fn new(base: &str, e: &'a Environment) -> Self {
        let url = format!(
            "{base}/v1/Services/{}/Environments/{}",
            e.service_sid, e.sid
        );
        EnvironmentBody {
            sid: &e.sid,
            account_sid: &e.account_sid,
            service_sid: &e.service_sid,
            build_sid: e.build_sid.as_deref(),
            unique_name: &e.unique_name,
            domain_suffix: e.domain_suffix.as_deref(),
            domain_name: &e.domain_name,
            date_created: clock::format(e.date_created),
            date_updated: clock::format(e.date_updated),
            links: EnvironmentLinks {
                variables: format!("{url}/Variables"),
                deployments: format!("{url}/Deployments"),
                logs: format!("{url}/Logs"),
            },
            url,
        }
    }
}

pub async fn list_environment(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(service): PathParams<String>,
    Query(query): Query,
) -> Result<Response, ApiError> {
    let service = services::resolve(&state, &ctx, &service).await?;
    let paging = Paging::from_query(&query)?;
    let page = domain::list(&state, &service, paging.request()).await?;
    let list_url = format!("{}/v1/Services/{}/Environments?", ctx.base, service.sid);
    Ok(respond("environments", &list_url, &paging, &page, |e| {
        EnvironmentBody::new(&ctx.base, e)
    }))
}

pub async fn create_environment(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(service): PathParams<String>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let created = domain::create(
        &state,
        &ctx,
        &service,
        form.get("UniqueName"),
        form.get("DomainSuffix"),
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &EnvironmentBody::new(&ctx.base, &created),
    ))
}

pub async fn fetch_environment(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, sid)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let (_, environment) = domain::resolve(&state, &ctx, &service, &sid).await?;
    Ok(json(
        StatusCode::OK,
        &EnvironmentBody::new(&ctx.base, &environment),
    ))
}

pub async fn delete_environment(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, sid)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let domain_name = domain::delete(&state, &ctx, &service, &sid).await?;
    state.sites.forget(&domain_name);
    Ok(StatusCode::NO_CONTENT)
}
