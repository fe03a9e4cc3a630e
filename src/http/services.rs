//! Service endpoints: ListService, CreateService, FetchService, UpdateService, DeleteService.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::clock;
use crate::domain::services::{self as domain, NewService, ServiceUpdate};
use crate::domain::{names, Ctx};
use crate::error::ApiError;
use crate::http::extract::{Form, PathParams, Query};
use crate::http::json;
use crate::http::pagination::{respond, Paging};
use crate::store::Service;
use crate::AppState;

/// A Service as the API shows it (spec `serverless.v1.service`).
#[derive(Serialize)]
pub struct ServiceBody<'a> {
    sid: &'a str,
    account_sid: &'a str,
    friendly_name: &'a str,
    unique_name: &'a str,
    include_credentials: bool,
    ui_editable: bool,
    domain_base: &'a str,
    date_created: String,
    date_updated: String,
    url: String,
    links: ServiceLinks,
}

#[derive(Serialize)]
struct ServiceLinks {
    environments: String,
    functions: String,
    assets: String,
    builds: String,
}

impl<'a> ServiceBody<'a> {
    pub fn new(base: &str, s: &'a Service) -> Self {
        let url = format!("{base}/v1/Services/{}", s.sid);
        ServiceBody {
            sid: &s.sid,
            account_sid: &s.account_sid,
            friendly_name: &s.friendly_name,
            unique_name: &s.unique_name,
            include_credentials: s.include_credentials,
            ui_editable: s.ui_editable,
            domain_base: &s.domain_base,
            date_created: clock::format(s.date_created),
            date_updated: clock::format(s.date_updated),
            links: ServiceLinks {
                environments: format!("{url}/Environments"),
                functions: format!("{url}/Functions"),
                assets: format!("{url}/Assets"),
                builds: format!("{url}/Builds"),
            },
            url,
        }
    }
}

pub async fn list_service(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query,
) -> Result<Response, ApiError> {
    let paging = Paging::from_query(&query)?;
    let page = domain::list(&state, &ctx, paging.request()).await?;
    let list_url = format!("{}/v1/Services?", ctx.base);
    Ok(respond("services", &list_url, &paging, &page, |s| {
        ServiceBody::new(&ctx.base, s)
    }))
}

pub async fn create_service(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let unique_name = form.required("UniqueName")?;
    names::service_unique_name(unique_name)?;
    let friendly_name = form.required("FriendlyName")?;
    names::friendly_name(friendly_name)?;
    let input = NewService {
        unique_name: unique_name.to_owned(),
        friendly_name: friendly_name.to_owned(),
        include_credentials: form.boolean("IncludeCredentials")?.unwrap_or(true),
        ui_editable: form.boolean("UiEditable")?.unwrap_or(false),
    };
    let service = domain::create(&state, &ctx, input).await?;
    Ok(json(
        StatusCode::CREATED,
        &ServiceBody::new(&ctx.base, &service),
    ))
}

pub async fn fetch_service(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(sid): PathParams<String>,
) -> Result<Response, ApiError> {
    let service = domain::resolve(&state, &ctx, &sid).await?;
    Ok(json(StatusCode::OK, &ServiceBody::new(&ctx.base, &service)))
}

pub async fn update_service(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(sid): PathParams<String>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let update = ServiceUpdate {
        friendly_name: form.get("FriendlyName"),
        include_credentials: form.get("IncludeCredentials"),
        ui_editable: form.get("UiEditable"),
    };
    let service = domain::update(&state, &ctx, &sid, update).await?;
    Ok(json(StatusCode::OK, &ServiceBody::new(&ctx.base, &service)))
}

pub async fn delete_service(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(sid): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    domain::delete(&state, &ctx, &sid).await?;
    // Its environments' domains stop serving at once.
    state.sites.forget_all();
    Ok(StatusCode::NO_CONTENT)
}
