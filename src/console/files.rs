//! A service's assets and functions with all their versions (path, visibility, size, date),
//! the upload form, and the form that builds chosen versions and deploys them in one step.
//! Every version of the service is read in one query per kind, so the page costs the same few
//! queries with one asset or a thousand.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use super::layout::{self, csrf_field, date, short_sid, size, Notice};
use super::pages::{done_notice, first};
use super::session::Signed;
use crate::domain::{containers, environments, services};
use crate::error::ApiError;
use crate::store::{Container, ContainerKind, Cursor, PageRequest, Service, Version};
use crate::AppState;

/// Versions per kind the page reads at most; beyond, it says that some are not shown.
const MAX_VERSIONS: u32 = 20_000;
/// Containers read per store page.
const CONTAINER_PAGE: u32 = 1000;

pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path(service): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    render(
        &state,
        &signed,
        &service,
        done_notice(query.as_deref()),
        StatusCode::OK,
    )
    .await
}

/// The page with an error from one of its forms.
pub async fn render_with(
    state: &AppState,
    signed: &Signed,
    service: &str,
    notice: Notice,
    status: StatusCode,
) -> Response {
    render(state, signed, service, Some(notice), status).await
}

/// One kind of a service's files: its containers and each one's versions, oldest first.
struct Held {
    kind: ContainerKind,
    containers: Vec<Container>,
    versions: HashMap<String, Vec<Version>>,
    truncated: bool,
}

async fn held(state: &AppState, service: &Service, kind: ContainerKind) -> Result<Held, ApiError> {
    let mut all = Vec::new();
    let mut cursor = Cursor::Offset(0);
    loop {
        let request = PageRequest {
            cursor,
            size: CONTAINER_PAGE,
        };
        let page = containers::list(state, kind, service, request).await?;
        all.extend(page.items.iter().cloned());
        match page.items.last() {
            Some(last) if page.has_next => cursor = Cursor::After(last.seq),
            _ => break,
        }
    }
    let rows = state
        .store
        .list_service_versions(kind, &service.sid, MAX_VERSIONS)
        .await?;
    let truncated = rows.len() >= MAX_VERSIONS as usize;
    let mut versions: HashMap<String, Vec<Version>> = HashMap::with_capacity(all.len());
    for version in rows {
        versions
            .entry(version.container_sid.clone())
            .or_default()
            .push(version);
    }
    Ok(Held {
        kind,
        containers: all,
        versions,
        truncated,
    })
}

async fn render(
    state: &AppState,
    signed: &Signed,
    service: &str,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let loaded = async {
        let service = services::resolve(state, &signed.ctx, service).await?;
        let assets = held(state, &service, ContainerKind::Asset).await?;
        let functions = held(state, &service, ContainerKind::Function).await?;
        let envs = environments::list(state, &service, first(100)).await?.items;
        Ok::<_, ApiError>((service, assets, functions, envs))
    }
    .await;
    let (service, assets, functions, envs) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => return layout::api_error_page(&err),
    };
    let svc = format!("/console/services/{}", service.sid);
    let body = html! {
        section.card {
            h2 #upload { "Upload files" }
            form.stack method="post" action=(format!("{svc}/files")) enctype="multipart/form-data"
                data-upload aria-labelledby="upload" {
                (csrf_field(signed))
                label { "Upload as"
                    select name="Kind" {
                        option value="asset" selected { "Assets (served as they are)" }
                        option value="function" { "Functions (JavaScript run on request)" }
                    } }
                label { "Visibility"
                    select name="Visibility" {
                        option value="public" selected { "public: anyone with the link" }
                        option value="protected" { "protected: signed Twilio requests only" }
                        option value="private" { "private: only functions can read it" }
                    } }
                div.dropzone {
                    p { "Drop files here, or choose them:" }
                    label { "Files" input type="file" name="Content" multiple required; }
                }
                p.muted data-upload-status aria-live="polite" {
                    "Each file becomes a new version of the asset or function of the same name, at path /" em { "file name" } "."
                }
                ul.progress {}
                button type="submit" { "Upload" }
            }
        }
        form method="post" action=(format!("{svc}/builds")) aria-labelledby="files" {
            (csrf_field(signed))
            h2 #files { "Assets and functions" }
            p.muted { "Choose the version of each file to include in a build; the newest is chosen." }
            (kind_table(&assets))
            (kind_table(&functions))
            section.card {
                h2 #build { "Build and deploy" }
                div.row {
                    label { "Deploy to"
                        select name="Environment" {
                            @for env in &envs { option value=(env.sid) { (env.unique_name) " (" (env.domain_name) ")" } }
                            option value="" { "Do not deploy, only build" }
                        } }
                }
                @if envs.is_empty() {
                    p.muted { "No environment yet: create one on the " a href=(svc) { "service's page" } " to deploy to it." }
                }
                p { button type="submit" { "Build and deploy" } }
            }
        }
    };
    let crumbs = [
        ("Services".to_owned(), "/console/services".to_owned()),
        (service.friendly_name.clone(), svc.clone()),
    ];
    let title = format!("Files of {}", service.friendly_name);
    layout::page(status, &title, Some(signed), &crumbs, notice.as_ref(), body)
}

fn kind_table(held: &Held) -> Markup {
    let (title, field, noun) = match held.kind {
        ContainerKind::Asset => ("Assets", "AssetVersions", "asset"),
        ContainerKind::Function => ("Functions", "FunctionVersions", "function"),
    };
    let none = Vec::new();
    html! {
        h3 { (title) " (" (held.containers.len()) ")" }
        @if held.truncated {
            p.notice.failed role="alert" { "This service has more versions than this page shows; the oldest are listed." }
        }
        @if held.containers.is_empty() {
            p.empty { "No " (noun) "s yet: upload files above to add some." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "Path" } th { "Visibility" } th { "Size" }
                    th.wide-only { "Date" } th { "Versions" } th { "In the build" } } }
                tbody { @for container in &held.containers {
                    @let versions = held.versions.get(&container.sid).unwrap_or(&none);
                    tr {
                        td { (container.friendly_name) }
                        @if let Some(latest) = versions.last() {
                            td.mono { (latest.path) }
                            td { (latest.visibility.as_str()) }
                            td { (size(latest.size)) }
                            td.wide-only { (date(latest.date_created)) }
                        } @else {
                            td.muted colspan="4" { "no version yet" }
                        }
                        td { @if versions.is_empty() { "0" } @else {
                            details {
                                summary { (versions.len()) " version(s)" }
                                ol reversed { @for v in versions.iter().rev() {
                                    li { code { (short_sid(&v.sid)) } " " span.mono { (v.path) } " · "
                                        (v.visibility.as_str()) " · " (size(v.size)) " · " (date(v.date_created)) }
                                } }
                            }
                        } }
                        td { select name=(field) aria-label=(format!("Version of {} to build", container.friendly_name)) {
                            @for (i, v) in versions.iter().rev().enumerate() {
                                option value=(v.sid) selected[i == 0] {
                                    (short_sid(&v.sid)) @if i == 0 { " (newest)" } }
                            }
                            option value="" { "not included" }
                        } }
                    }
                } }
            } }
        }
    }
}
