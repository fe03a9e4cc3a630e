//! What Asset and Function endpoints share: the body shape and the five handlers' logic,
//! parameterised by kind. `assets.rs` and `functions.rs` are thin, spec-named wrappers.

use axum::http::StatusCode;
use axum::response::Response;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::clock;
use crate::domain::{containers as domain, Ctx};
use crate::error::ApiError;
use crate::http::extract::Params;
use crate::http::json;
use crate::http::pagination::{respond, Paging};
use crate::store::{Container, ContainerKind};
use crate::AppState;

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

/// A value serialised through its `Display` output.
struct Shown<T>(T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl Serialize for ContainerBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (segment, _, link) = names(self.kind);
        let c = self.container;
        let base = self.base;
        let (service, sid) = (&c.service_sid, &c.sid);
        let mut map = serializer.serialize_map(Some(8))?;
        map.serialize_entry("sid", sid)?;
        map.serialize_entry("account_sid", &c.account_sid)?;
        map.serialize_entry("service_sid", service)?;
        map.serialize_entry("friendly_name", &c.friendly_name)?;
        map.serialize_entry("date_created", &Shown(clock::TwilioDate(c.date_created)))?;
        map.serialize_entry("date_updated", &Shown(clock::TwilioDate(c.date_updated)))?;
        map.serialize_entry(
            "url",
            &Shown(format_args!("{base}/v1/Services/{service}/{segment}/{sid}")),
        )?;
        let versions = Shown(format_args!(
            "{base}/v1/Services/{service}/{segment}/{sid}/Versions"
        ));
        map.serialize_entry("links", &OneLink(link, versions))?;
        map.end()
    }
}

/// `links` with the single versions entry.
struct OneLink<T>(&'static str, T);

impl<T: Serialize> Serialize for OneLink<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &self.1)?;
        map.end()
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
    Ok(respond(key, &list_url, &paging, &page, |c| {
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
    Ok(json(
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
    Ok(json(
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
    Ok(json(
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
