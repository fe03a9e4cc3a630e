//! Asset endpoints: ListAsset, CreateAsset, FetchAsset, UpdateAsset, DeleteAsset.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::domain::Ctx;
use crate::error::ApiError;
use crate::http::containers;
use crate::http::extract::{Form, PathParams, Query};
use crate::store::ContainerKind::Asset;
use crate::AppState;

pub async fn list_asset(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(service): PathParams<String>,
    Query(query): Query,
) -> Result<Response, ApiError> {
    containers::list(&state, &ctx, Asset, &service, &query).await
}

pub async fn create_asset(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(service): PathParams<String>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    containers::create(&state, &ctx, Asset, &service, &form).await
}

pub async fn fetch_asset(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, sid)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    containers::fetch(&state, &ctx, Asset, &service, &sid).await
}

pub async fn update_asset(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, sid)): PathParams<(String, String)>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    containers::update(&state, &ctx, Asset, (&service, &sid), &form).await
}

pub async fn delete_asset(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, sid)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    containers::delete(&state, &ctx, Asset, &service, &sid).await
}
