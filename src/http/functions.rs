//! Function endpoints: ListFunction, CreateFunction, FetchFunction, UpdateFunction, DeleteFunction.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::domain::Ctx;
use crate::error::ApiError;
use crate::http::containers;
use crate::http::extract::{Form, PathParams, Query};
use crate::store::ContainerKind::Function;
use crate::AppState;

pub async fn list_function(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(service): PathParams<String>,
    Query(query): Query,
) -> Result<Response, ApiError> {
    containers::list(&state, &ctx, Function, &service, &query).await
}

pub async fn create_function(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(service): PathParams<String>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    containers::create(&state, &ctx, Function, &service, &form).await
}

pub async fn fetch_function(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, sid)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    containers::fetch(&state, &ctx, Function, &service, &sid).await
}

pub async fn update_function(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, sid)): PathParams<(String, String)>,
    Form(form): Form,
) -> Result<Response, ApiError> {
    containers::update(&state, &ctx, Function, (&service, &sid), &form).await
}

pub async fn delete_function(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams((service, sid)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    containers::delete(&state, &ctx, Function, &service, &sid).await
}
