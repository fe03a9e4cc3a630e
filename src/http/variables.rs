//! Variable endpoints: ListVariable, CreateVariable, FetchVariable, UpdateVariable,
//! DeleteVariable.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::clock;
use crate::domain::{environments, variables as domain, Ctx};
use crate::error::ApiError;
use crate::http::extract::{Form, PathParams, Query};
use crate::http::json;
use crate::http::pagination::{respond, Paging};
use crate::store::Variable;
use crate::AppState;

/// Spec `serverless.v1.service.environment.variable`.
#[derive(Serialize)]
pub struct VariableBody<'a> {
    sid: &'a str,
    account_sid: &'a str,
    service_sid: &'a str,
    environment_sid: &'a str,
    key: &'a str,
    value: &'a str,
    date_created: String,
    date_updated: String,
    url: String,
}

impl<'a> VariableBody<'a> {
    pub fn new(base: &str, v: &'a Variable) -> Self {
        VariableBody {
            sid: &v.sid,
            account_sid: &v.account_sid,
            service_sid: &v.service_sid,
            environment_sid: &v.environment_sid,
            key: &v.key,
            value: &v.value,
            date_created: clock::format(v.date_created),
            date_updated: clock::format(v.date_updated),
            url: format!(
                "{base}/v1/Services/{}/Environments/{}/Variables/{}",
                v.service_sid, v.environment_sid, v.sid
            ),
        }
    }
}

pub async fn list_variable(
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
        "{}/v1/Services/{}/Environments/{}/Variables?",
        ctx.base, service.sid, environment.sid
    );
    Ok(respond("variables", &list_url, &paging, &page, |v| {
        VariableBody::new(&ctx.base, v)
    }))
}

pub async fn create_variable(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, environment)): PathParams<(String, String)>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let created = domain::create(
        &state,
        &ctx,
        (&service, &environment),
        form.get("Key"),
        form.get_raw("Value"),
    )
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &VariableBody::new(&ctx.base, &created),
    ))
}

pub async fn fetch_variable(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, environment, sid)): PathParams<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (_, variable) = domain::resolve(&state, &ctx, (&service, &environment, &sid)).await?;
    Ok(json(
        StatusCode::OK,
        &VariableBody::new(&ctx.base, &variable),
    ))
}

pub async fn update_variable(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, environment, sid)): PathParams<(String, String, String)>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let updated = domain::update(
        &state,
        &ctx,
        (&service, &environment, &sid),
        form.get_raw("Key"),
        form.get_raw("Value"),
    )
    .await?;
    Ok(json(
        StatusCode::OK,
        &VariableBody::new(&ctx.base, &updated),
    ))
}

pub async fn delete_variable(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, environment, sid)): PathParams<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    domain::delete(&state, &ctx, (&service, &environment, &sid)).await?;
    Ok(StatusCode::NO_CONTENT)
}
