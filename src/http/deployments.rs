//! Deployment endpoints: ListDeployment, CreateDeployment, FetchDeployment.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::clock;
use crate::domain::{deployments as domain, environments, Ctx};
use crate::error::ApiError;
use crate::http::extract::{Form, PathParams, Query};
use crate::http::json;
use crate::http::pagination::{respond, Paging};
use crate::store::Deployment;
use crate::AppState;

/// Spec `serverless.v1.service.environment.deployment`.
#[derive(Serialize)]
pub struct DeploymentBody<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    environment_sid: &'a str,
    build_sid: Option<&'a str>,
    date_created: String,
    date_updated: String,
    url: String,
}

impl<'a> DeploymentBody<'a> {
    pub fn new(base: &str, d: &'a Deployment) -> Self {
        DeploymentBody {
            sid: &d.sid,
            account_sid: &d.account_sid,
            service_sid: &d.service_sid,
            environment_sid: &d.environment_sid,
            build_sid: d.build_sid.as_deref(),
            date_created: clock::format(d.date_created),
            date_updated: clock::format(d.date_updated),
            url: format!(
                "{base}/v1/Services/{}/Environments/{}/Deployments/{}",
                d.service_sid, d.environment_sid, d.sid
            ),
        }
    }
}

pub async fn list_deployment(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, environment)): PathParams<(String, String)>,
    Query(query): Query,
) -> Result<Response, ApiError> {
    let (service, environment) =
        environments::resolve(&state, &ctx, &service, &environment).await?;
    let paging = Paging::from_query(&query)?;
    let page = domain::list(&state, &environment, paging.request()).await?;
    let list_url = format!(
        "{}/v1/Services/{}/Environments/{}/Deployments?",
        ctx.base, service.sid, environment.sid
    );
    Ok(respond("deployments", &list_url, &paging, &page, |d| {
        DeploymentBody::new(&ctx.base, d)
    }))
}

pub async fn create_deployment(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, environment)): PathParams<(String, String)>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let (created, domain_name) = domain::create(
        &state,
        &ctx,
        (&service, &environment),
        form.get("BuildSid"),
        form.get("IsPlugin"),
    )
    .await?;
    // Served by this node from the next request on; other nodes hear it from the store.
    state.sites.forget(&domain_name);
    Ok(json(
        StatusCode::CREATED,
        &DeploymentBody::new(&ctx.base, &created),
    ))
}

pub async fn fetch_deployment(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, environment, sid)): PathParams<(String, String, String)>,
) -> Result<Response, ApiError> {
    let deployment = domain::resolve(&state, &ctx, (&service, &environment, &sid)).await?;
    Ok(json(
        StatusCode::OK,
        &DeploymentBody::new(&ctx.base, &deployment),
    ))
}
