//! Asset Version endpoints: ListAssetVersion, the upload (create, multipart, COMPAT §7) and
//! FetchAssetVersion.

use axum::extract::{Request, State};
use axum::response::Response;

use crate::domain::Ctx;
use crate::error::ApiError;
use crate::http::extract::{PathParams, Query};
use crate::http::versions;
use crate::store::ContainerKind::Asset;
use crate::AppState;

pub async fn list_asset_version(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, asset)): PathParams<(String, String)>,
    Query(query): Query,
) -> Result<Response, ApiError> {
    versions::list(&state, &ctx, Asset, (&service, &asset), &query).await
}

pub async fn create_asset_version(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, asset)): PathParams<(String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    versions::create(&state, &ctx, Asset, (&service, &asset), req).await
}

pub async fn fetch_asset_version(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, asset, sid)): PathParams<(String, String, String)>,
) -> Result<Response, ApiError> {
    versions::fetch(&state, &ctx, Asset, (&service, &asset, &sid)).await
}
