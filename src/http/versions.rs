//! What Asset Version and Function Version endpoints share: body shapes, upload, list and
//! fetch, parameterised by kind.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::clock;
use crate::domain::uploads::Sink;
use crate::domain::{containers, versions, Ctx};
use crate::error::ApiError;
use crate::http::extract::Params;
use crate::http::json;
use crate::http::pagination::{respond, Paging};
use crate::http::uploads;
use crate::store::{ContainerKind, Version};
use crate::AppState;

/// An Asset Version or Function Version as the API shows it. Asset Versions have no
/// `links` (COMPAT §5.8); Function Versions link their content (§5.5).
pub struct VersionBody<'a> {
    kind: ContainerKind,
    version: &'a Version,
    url: String,
}

impl<'a> VersionBody<'a> {
    pub fn new(base: &str, kind: ContainerKind, version: &'a Version) -> Self {
        let segment = match kind {
            ContainerKind::Asset => "Assets",
            ContainerKind::Function => "Functions",
        };
        let url = format!(
            "{base}/v1/Services/{}/{segment}/{}/Versions/{}",
            version.service_sid, version.container_sid, version.sid
        );
        VersionBody { kind, version, url }
    }
}

impl Serialize for VersionBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.version;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("sid", &v.sid)?;
        map.serialize_entry("account_sid", &v.account_sid)?;
        map.serialize_entry("service_sid", &v.service_sid)?;
        match self.kind {
            ContainerKind::Asset => map.serialize_entry("asset_sid", &v.container_sid)?,
            ContainerKind::Function => map.serialize_entry("function_sid", &v.container_sid)?,
        }
        map.serialize_entry("path", &v.path)?;
        map.serialize_entry("visibility", &v.visibility)?;
        map.serialize_entry("date_created", &clock::format(v.date_created))?;
        map.serialize_entry("url", &self.url)?;
        if self.kind == ContainerKind::Function {
            let mut links = std::collections::BTreeMap::new();
            links.insert("function_version_content", format!("{}/Content", self.url));
            map.serialize_entry("links", &links)?;
        }
        map.end()
    }
}

pub async fn create(
    state: &AppState,
    ctx: &Ctx,
    kind: ContainerKind,
    (service, container): (&str, &str),
    req: Request,
) -> Result<Response, ApiError> {
    let (_, container) = containers::resolve(state, ctx, kind, service, container).await?;
    let mut sink = Sink::new(state, kind);
    uploads::parse(state, &mut sink, req).await?;
    let version = sink.create(ctx, &container).await?;
    Ok(json(
        StatusCode::CREATED,
        &VersionBody::new(&ctx.base, kind, &version),
    ))
}

pub async fn list(
    state: &AppState,
    ctx: &Ctx,
    kind: ContainerKind,
    (service, container): (&str, &str),
    query: &Params,
) -> Result<Response, ApiError> {
    let (service, container) = containers::resolve(state, ctx, kind, service, container).await?;
    let paging = Paging::from_query(query)?;
    let page = versions::list(state, kind, &container, paging.request()).await?;
    let (segment, key) = match kind {
        ContainerKind::Asset => ("Assets", "asset_versions"),
        ContainerKind::Function => ("Functions", "function_versions"),
    };
    let list_url = format!(
        "{}/v1/Services/{}/{segment}/{}/Versions?",
        ctx.base, service.sid, container.sid
    );
    Ok(respond(key, &list_url, &paging, &page, |v| {
        VersionBody::new(&ctx.base, kind, v)
    }))
}

pub async fn fetch(
    state: &AppState,
    ctx: &Ctx,
    kind: ContainerKind,
    sids: (&str, &str, &str),
) -> Result<Response, ApiError> {
    let (_, version) = versions::resolve(state, ctx, kind, sids).await?;
    Ok(json(
        StatusCode::OK,
        &VersionBody::new(&ctx.base, kind, &version),
    ))
}
