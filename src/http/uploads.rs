//! Streaming multipart parser for version uploads (COMPAT §7): parts in any order, the
//! `Content` part streamed to the blob store while it is hashed, never held in memory, and
//! cut off with 413 the moment it passes the size limit.

use axum::extract::Request;
use axum::http::header;

use crate::domain::versions::{self, Upload, Visibility};
use crate::error::ApiError;
use crate::store::ContainerKind;
use crate::AppState;

/// Bytes a text part (`Path`, `Visibility`) may have.
const MAX_TEXT_PART: usize = 4096;

/// Room for part headers and text fields on top of the largest content.
const ENVELOPE_BYTES: u64 = 1 << 20;

/// Reads an upload body. A body that is not multipart carries no parts.
pub async fn parse(
    state: &AppState,
    kind: ContainerKind,
    req: Request,
) -> Result<Upload, ApiError> {
    let mut upload = Upload {
        path: None,
        visibility: None,
        content: None,
    };
    let Some(boundary) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
    else {
        return Ok(upload);
    };
    let largest = versions::largest_limit(&state.config.limits, kind);
    let body_cap = largest.map(|l| l.saturating_add(ENVELOPE_BYTES));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let (Some(cap), Some(len)) = (body_cap, declared) {
        if len > cap {
            return Err(ApiError::PayloadTooLarge);
        }
    }
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(body_cap.unwrap_or(u64::MAX)));
    let stream = req.into_body().into_data_stream();
    let mut parts = multer::Multipart::with_constraints(stream, boundary, constraints);
    while let Some(mut field) = parts.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("Path") if upload.path.is_none() => upload.path = text(field).await?,
            Some("Visibility") if upload.visibility.is_none() => {
                upload.visibility = text(field).await?
            }
            Some("Content") if upload.content.is_none() => {
                // Once the visibility is known its own limit applies; before, the largest.
                let limit = match upload.visibility.as_deref().map(Visibility::parse) {
                    Some(Ok(v)) => versions::size_limit(&state.config.limits, kind, v),
                    _ => largest,
                };
                let part_type = field.content_type().map(ToString::to_string);
                let mut blob = state.blobs.begin().await.map_err(ApiError::internal)?;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if limit.is_some_and(|max| blob.size() + chunk.len() as u64 > max) {
                        return Err(ApiError::PayloadTooLarge);
                    }
                    blob.write(chunk).await.map_err(ApiError::internal)?;
                }
                let staged = blob.finish().await.map_err(ApiError::internal)?;
                upload.content = Some((staged, part_type));
            }
            // Unknown and repeated parts are skipped; multer drains them.
            _ => {}
        }
    }
    Ok(upload)
}

/// A text part, bounded; empty counts as absent like any empty parameter.
async fn text(mut field: multer::Field<'static>) -> Result<Option<String>, ApiError> {
    let name = field.name().unwrap_or("part").to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_PART {
            return Err(ApiError::invalid(format!("Invalid {name}: too long")));
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid(format!("Invalid {name}: not UTF-8")))?;
    Ok(Some(text).filter(|t| !t.is_empty()))
}

fn multipart_error(err: multer::Error) -> ApiError {
    match err {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            ApiError::PayloadTooLarge
        }
        other => ApiError::invalid(format!("Invalid multipart body: {other}")),
    }
}
