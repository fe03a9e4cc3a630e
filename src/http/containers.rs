//! What Asset and Function endpoints share: the body shape and the five handlers' logic,
//! parameterised by kind. `assets.rs` and `functions.rs` are thin, spec-named wrappers.

use crate::domain::{containers as domain, Ctx};
use crate::error::ApiError;
use crate::http::extract::Params;
use crate::http::json_out::{JsonOut, WriteJson};
use crate::http::json_written;
use crate::http::pagination::{respond_json, Paging};
use crate::store::{Container, ContainerKind};
use crate::AppState;
use axum::http::StatusCode;
use axum::response::Response;

/// Path segment, list key and versions link name of each kind.
fn names(kind: ContainerKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        ContainerKind::Asset => ("Assets", "assets", "asset_versions"),
        ContainerKind::Function => ("Functions", "functions", "function_versions"),
    }
}

/// An Asset or Function as the API shows it (spec `serverless.v1.service.asset` / `.function`).
/// Lists render fifty of these per page, so URLs and dates are written straight into the
/// output instead of being built as strings first.
pub struct ContainerBody<'a> {
    base: &'a str,
    kind: ContainerKind,
    container: &'a Container,
}

impl<'a> ContainerBody<'a> {
    pub fn new(base: &'a str, kind: ContainerKind, container: &'a Container) -> Self {
        ContainerBody {
            base,
            kind,
            container,
        }
    }
}

impl WriteJson for ContainerBody<'_> {
    fn write_json(&self, out: &mut JsonOut) {
        let (segment, _, link) = names(self.kind);
        let c = self.container;
        let base = self.base;
        let (service, sid) = (c.service_sid.as_str(), c.sid.as_str());
        let versions = [
            base,
            "/v1/Services/",
            service,
            "/",
            segment,
            "/",
            sid,
            "/Versions",
        ];
        out.raw("{\"sid\":");
        out.string(sid);
        out.raw(",\"account_sid\":");
        out.string(&c.account_sid);
        out.raw(",\"service_sid\":");
        out.string(service);
        out.raw(",\"friendly_name\":");
        out.string(&c.friendly_name);
        out.raw(",\"date_created\":");
        out.date(c.date_created);
        out.raw(",\"date_updated\":");
        out.date(c.date_updated);
        out.raw(",\"url\":");
        out.concat(&versions[..7]);
        out.raw(",\"links\":{\"");
        out.raw(link);
        out.raw("\":");
        out.concat(&versions);
        out.raw("}}");
    }
}

pub async fn list(
    state: &AppState,
    ctx: &Ctx,
    kind: ContainerKind,
    service: &str,
    query: &Params,
) -> Result<Response, ApiError> {
    let (segment, key, _) = names(kind);
    let service = crate::domain::services::resolve(state, ctx, service).await?;
    // Paging is validated after the Service is found (COMPAT §2.7).
    let paging = Paging::from_query(query)?;
    let page = domain::list(state, kind, &service, paging.request()).await?;
    let list_url = format!("{}/v1/Services/{}/{segment}?", ctx.base, service.sid);
    Ok(respond_json(key, &list_url, &paging, &page, |c| {
        ContainerBody::new(&ctx.base, kind, c)
    }))
}

pub async fn create(
    state: &AppState,
    ctx: &Ctx,
    kind: ContainerKind,
    service: &str,
    form: &Params,
) -> Result<Response, ApiError> {
    let created = domain::create(state, ctx, kind, service, form.get("FriendlyName")).await?;
    Ok(json_written(
        StatusCode::CREATED,
        &ContainerBody::new(&ctx.base, kind, &created),
    ))
}

pub async fn fetch(
    state: &AppState,
    ctx: &Ctx,
    kind: ContainerKind,
    service: &str,
    sid: &str,
) -> Result<Response, ApiError> {
    let (_, container) = domain::resolve(state, ctx, kind, service, sid).await?;
    Ok(json_written(
        StatusCode::OK,
        &ContainerBody::new(&ctx.base, kind, &container),
    ))
}

pub async fn update(
    state: &AppState,
    ctx: &Ctx,
    kind: ContainerKind,
    (service, sid): (&str, &str),
    form: &Params,
) -> Result<Response, ApiError> {
    let renamed = domain::rename(state, ctx, kind, service, sid, form.get("FriendlyName")).await?;
    Ok(json_written(
        StatusCode::OK,
        &ContainerBody::new(&ctx.base, kind, &renamed),
    ))
}

pub async fn delete(
    state: &AppState,
    ctx: &Ctx,
    kind: ContainerKind,
    service: &str,
    sid: &str,
) -> Result<StatusCode, ApiError> {
    domain::delete(state, ctx, kind, service, sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
