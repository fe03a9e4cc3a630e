//! `GET /depot/v1/Services/{Service}/Contents`: depot's own read for incremental deploys
//! (`depot deploy` uploads only files whose content changed). See `domain::contents`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::domain::{contents, Ctx};
use crate::error::ApiError;
use crate::http::extract::PathParams;
use crate::http::json;
use crate::store::ContainerKind;
use crate::AppState;

#[derive(Serialize)]
struct ContentsBody {
    service_sid: String,
    contents: Vec<Entry>,
}

#[derive(Serialize)]
struct Entry {
    /// `asset` or `function`.
    kind: &'static str,
    sid: String,
    friendly_name: String,
    latest_version: Option<LatestVersion>,
}

#[derive(Serialize)]
struct LatestVersion {
    sid: String,
    path: String,
    visibility: &'static str,
    size: i64,
    sha256: String,
}

pub async fn list_contents(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(service): PathParams<String>,
) -> Result<Response, ApiError> {
    let held = contents::list(&state, &ctx, &service).await?;
    let service_sid = held
        .first()
        .map(|h| h.container.service_sid.clone())
        .unwrap_or_default();
    let contents = held
        .into_iter()
        .map(|h| Entry {
            kind: match h.kind {
                ContainerKind::Asset => "asset",
                ContainerKind::Function => "function",
            },
            sid: h.container.sid,
            friendly_name: h.container.friendly_name,
            latest_version: h.latest.map(|v| LatestVersion {
                sid: v.sid,
                path: v.path,
                visibility: v.visibility.as_str(),
                size: v.size,
                sha256: v.sha256,
            }),
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &ContentsBody {
            service_sid,
            contents,
        },
    ))
}
