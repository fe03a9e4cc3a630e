//! Uploads from the files page: a multipart body whose first part is the session's CSRF token,
//! then the kind and visibility, then any number of files. Each file streams through the
//! domain's upload sink (never held in memory) and becomes a new version of the Asset or
//! Function of the same name, created when there is none.

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;

use super::csrf;
use super::layout::Notice;
use super::pages::done;
use super::session::Signed;
use crate::domain::uploads::{Field, Sink};
use crate::domain::{containers, names, services, versions};
use crate::error::ApiError;
use crate::store::{Container, ContainerKind, Cursor, PageRequest, Service};
use crate::AppState;

/// Files one request may carry.
const MAX_FILES: usize = 100;
/// Bytes a text part may have.
const MAX_TEXT: usize = 256;

#[derive(Serialize)]
struct Answer {
    message: String,
    uploaded: Vec<Uploaded>,
}

#[derive(Serialize)]
struct Uploaded {
    path: String,
    sid: String,
}

pub async fn upload(
    State(state): State<AppState>,
    signed: Signed,
    Path(service): Path<String>,
    req: Request,
) -> Response {
    let json = wants_json(req.headers());
    let mut uploaded = Vec::new();
    let result = receive(&state, &signed, &service, req, &mut uploaded).await;
    match (result, json) {
        (Ok(()), true) => answer(StatusCode::CREATED, "Uploaded.".into(), uploaded),
        (Ok(()), false) => done(&format!("/console/services/{service}/files"), "uploaded"),
        (Err(Refusal::Csrf), true) => answer(
            StatusCode::FORBIDDEN,
            "This form is out of date: reload the page.".into(),
            uploaded,
        ),
        (Err(Refusal::Csrf), false) => super::form::refused(),
        (Err(Refusal::Api(err)), json) => {
            let reason = Notice::from_error(&err).into_text();
            let message = match uploaded.len() {
                0 => reason,
                n => format!("{n} file(s) uploaded, then: {reason}"),
            };
            if json {
                answer(err.status(), message, uploaded)
            } else {
                let notice = Notice::Failed(message);
                super::files::render_with(&state, &signed, &service, notice, err.status()).await
            }
        }
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

fn answer(status: StatusCode, message: String, uploaded: Vec<Uploaded>) -> Response {
    crate::http::json(status, &Answer { message, uploaded })
}

enum Refusal {
    Csrf,
    Api(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(err: ApiError) -> Refusal {
        Refusal::Api(err)
    }
}

/// The parts of an upload, in the order they must come.
struct Upload {
    kind: ContainerKind,
    visibility: Option<String>,
    checked: bool,
    files: usize,
}

async fn receive(
    state: &AppState,
    signed: &Signed,
    service: &str,
    req: Request,
    uploaded: &mut Vec<Uploaded>,
) -> Result<(), Refusal> {
    let boundary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| ApiError::invalid("Choose one or more files to upload."))?;
    let service = services::resolve(state, &signed.ctx, service).await?;
    let largest = [ContainerKind::Asset, ContainerKind::Function]
        .into_iter()
        .filter_map(|kind| versions::largest_limit(&state.config.limits, kind))
        .max();
    let mut limit = multer::SizeLimit::new();
    if let Some(largest) = largest {
        limit = limit.per_field(largest.saturating_add(1));
    }
    let constraints = multer::Constraints::new().size_limit(limit);
    let stream = req.into_body().into_data_stream();
    let mut parts = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut upload = Upload {
        kind: ContainerKind::Asset,
        visibility: None,
        checked: false,
        files: 0,
    };
    while let Some(mut part) = parts.next_field().await.map_err(multipart_error)? {
        let name = part.name().unwrap_or_default().to_owned();
        // Nothing is looked at before the token: a forged request costs one small part.
        if !upload.checked {
            let sent = (name == "csrf").then_some(text(&mut part).await?);
            if !csrf::token_matches(&signed.session.csrf_token, sent.as_deref()) {
                return Err(Refusal::Csrf);
            }
            upload.checked = true;
            continue;
        }
        match name.as_str() {
            "Kind" => {
                upload.kind = match text(&mut part).await?.as_str() {
                    "function" => ContainerKind::Function,
                    "asset" => ContainerKind::Asset,
                    other => {
                        return Err(ApiError::invalid(format!(
                            "Invalid Kind: {}",
                            names::truncate_for_message(other)
                        ))
                        .into())
                    }
                }
            }
            "Visibility" => upload.visibility = Some(text(&mut part).await?),
            "Content" => {
                let Some(file_name) = part.file_name().filter(|n| !n.is_empty()) else {
                    while part.chunk().await.map_err(multipart_error)?.is_some() {}
                    continue;
                };
                let file_name = file_name.to_owned();
                upload.files += 1;
                if upload.files > MAX_FILES {
                    return Err(
                        ApiError::invalid(format!("At most {MAX_FILES} files per upload")).into(),
                    );
                }
                let version =
                    store_file(state, signed, &service, &upload, &file_name, part).await?;
                uploaded.push(version);
            }
            _ => while part.chunk().await.map_err(multipart_error)?.is_some() {},
        }
    }
    if !upload.checked {
        return Err(Refusal::Csrf);
    }
    if upload.files == 0 {
        return Err(ApiError::invalid("Choose one or more files to upload.").into());
    }
    Ok(())
}

/// Streams one file into a new version.
async fn store_file(
    state: &AppState,
    signed: &Signed,
    service: &Service,
    upload: &Upload,
    file_name: &str,
    mut part: multer::Field<'static>,
) -> Result<Uploaded, ApiError> {
    // A function is invoked at its name, as Twilio's tools deploy `hello.js` to `/hello`.
    let route = match upload.kind {
        ContainerKind::Function => file_name.strip_suffix(".js").unwrap_or(file_name),
        ContainerKind::Asset => file_name,
    };
    let path = versions::normalize_path(route)?;
    names::friendly_name(file_name)?;
    let mut sink = Sink::new(state, upload.kind);
    sink.set_text(Field::Path, path);
    sink.set_text(
        Field::Visibility,
        upload.visibility.clone().unwrap_or_default(),
    );
    let part_type = part.content_type().map(ToString::to_string);
    let mut content = sink.open_content(part_type).await?;
    while let Some(chunk) = part.chunk().await.map_err(multipart_error)? {
        content.write(chunk).await?;
    }
    sink.close_content(content).await?;
    // The container comes after the content, so a cut-short upload leaves no empty one.
    let container = container_named(state, signed, service, upload.kind, file_name).await?;
    let version = sink.create(&signed.ctx, &container).await?;
    Ok(Uploaded {
        path: version.path,
        sid: version.sid,
    })
}

/// The Asset or Function called `name`, made when there is none.
async fn container_named(
    state: &AppState,
    signed: &Signed,
    service: &Service,
    kind: ContainerKind,
    name: &str,
) -> Result<Container, ApiError> {
    let mut cursor = Cursor::Offset(0);
    loop {
        let request = PageRequest { cursor, size: 1000 };
        let page = containers::list(state, kind, service, request).await?;
        if let Some(found) = page.items.iter().find(|c| c.friendly_name == name) {
            return Ok(found.clone());
        }
        match page.items.last() {
            Some(last) if page.has_next => cursor = Cursor::After(last.seq),
            _ => break,
        }
    }
    containers::create(state, &signed.ctx, kind, &service.sid, Some(name)).await
}

async fn text(part: &mut multer::Field<'static>) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = part.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT {
            return Err(ApiError::invalid("A form field is too long"));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::invalid("A form field is not UTF-8"))
}

fn multipart_error(err: multer::Error) -> ApiError {
    match err {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            ApiError::PayloadTooLarge
        }
        other => ApiError::invalid(format!("The upload could not be read: {other}")),
    }
}
