//! The list of services (create, delete) and one service's overview: its environments, with
//! their domains and live builds, and its builds.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use maud::html;

use super::super::form::Fields;
use super::super::layout::{self, csrf_field, date, short_sid, Notice};
use super::super::session::{self, Signed};
use super::{done, done_notice, first, newest};
use crate::domain::{builds, environments, names, services};
use crate::error::ApiError;
use crate::AppState;

/// Most services an account can hold is a setting; the page shows up to this many.
const MAX_LISTED: u32 = 1000;
/// Builds shown on a service's overview, newest first.
const BUILDS_SHOWN: u32 = 50;

pub async fn home() -> Response {
    super::super::see_other("/console/services")
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    RawQuery(query): RawQuery,
) -> Response {
    render_list(
        &state,
        &signed,
        done_notice(query.as_deref()),
        StatusCode::OK,
    )
    .await
}

async fn render_list(
    state: &AppState,
    signed: &Signed,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let page = match services::list(state, &signed.ctx, first(MAX_LISTED)).await {
        Ok(page) => page,
        Err(err) => return layout::api_error_page(&err),
    };
    let body = html! {
        @if page.items.is_empty() {
            p.empty { "No services yet. A service holds your assets, functions and the \
                environments they are deployed to: create your first one below." }
        } @else {
            div.table-wrap { table {
                caption.muted { (page.items.len()) " service(s)" }
                thead { tr { th { "Name" } th { "Unique name" } th.wide-only { "SID" }
                    th.wide-only { "Created" } th { span.muted { "Actions" } } } }
                tbody { @for service in &page.items { tr {
                    td { a href=(format!("/console/services/{}", service.sid)) { (service.friendly_name) } }
                    td { code { (service.unique_name) } }
                    td.wide-only { code { (service.sid) } }
                    td.wide-only { (date(service.date_created)) }
                    td { form.inline method="post" action=(format!("/console/services/{}/delete", service.sid))
                        data-confirm=(format!("Delete service {} with all its files, builds and environments?", service.unique_name)) {
                        (csrf_field(signed))
                        button.danger type="submit" aria-label=(format!("Delete service {}", service.unique_name)) { "Delete" }
                    } }
                } } }
            } }
        }
        section.card {
            h2 #create { "Create a service" }
            form.stack method="post" action="/console/services" aria-labelledby="create" {
                (csrf_field(signed))
                label { "Unique name"
                    input type="text" name="UniqueName" required maxlength="50" spellcheck="false"
                        aria-describedby="unique-help"; }
                span #unique-help .muted { "Letters, digits and hyphens; it starts the service's domains." }
                label { "Friendly name" input type="text" name="FriendlyName" required maxlength="255"; }
                button type="submit" { "Create service" }
            }
        }
    };
    layout::page(status, "Services", Some(signed), &[], notice.as_ref(), body)
}

pub async fn create(State(state): State<AppState>, signed: Signed, body: Bytes) -> Response {
    let fields = Fields::parse(&body);
    if !fields.csrf_ok(&signed) {
        return super::super::form::refused();
    }
    let created = async {
        let unique_name = fields
            .non_empty("UniqueName")
            .ok_or(ApiError::MissingParameter("UniqueName"))?;
        names::service_unique_name(unique_name)?;
        let friendly_name = fields
            .non_empty("FriendlyName")
            .ok_or(ApiError::MissingParameter("FriendlyName"))?;
        names::friendly_name(friendly_name)?;
        let input = services::NewService {
            unique_name: unique_name.to_owned(),
            friendly_name: friendly_name.to_owned(),
            include_credentials: true,
            ui_editable: false,
        };
        services::create(&state, &signed.ctx, input).await
    }
    .await;
    match created {
        Ok(service) => done(
            &format!("/console/services/{}", service.sid),
            "service-created",
        ),
        Err(err) => {
            let notice = Notice::from_error(&err);
            render_list(&state, &signed, Some(notice), err.status()).await
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    if !Fields::parse(&body).csrf_ok(&signed) {
        return super::super::form::refused();
    }
    match services::delete(&state, &signed.ctx, &service).await {
        Ok(()) => {
            // Its environments' domains stop serving at once, as after the API's delete.
            state.sites.forget_all();
            done("/console/services", "service-deleted")
        }
        Err(err) => {
            let notice = Notice::from_error(&err);
            render_list(&state, &signed, Some(notice), err.status()).await
        }
    }
}

pub async fn overview(
    State(state): State<AppState>,
    signed: Signed,
    Path(service): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let view = OverviewRequest {
        state: &state,
        signed: &signed,
        headers: &headers,
        uri: &uri,
    };
    view.render(&service, done_notice(query.as_deref()), StatusCode::OK)
        .await
}

/// What rendering a service's overview needs; also used to show an error on it.
pub struct OverviewRequest<'a> {
    pub state: &'a AppState,
    pub signed: &'a Signed,
    pub headers: &'a HeaderMap,
    pub uri: &'a Uri,
}

impl OverviewRequest<'_> {
    pub async fn render(
        &self,
        service: &str,
        notice: Option<Notice>,
        status: StatusCode,
    ) -> Response {
        let (state, signed) = (self.state, self.signed);
        let service = match services::resolve(state, &signed.ctx, service).await {
            Ok(service) => service,
            Err(err) => return layout::api_error_page(&err),
        };
        let environments = environments::list(state, &service, first(100)).await;
        let builds = builds::list_rows(state, &service, newest(BUILDS_SHOWN)).await;
        let (environments, builds) = match (environments, builds) {
            (Ok(e), Ok(b)) => (e.items, b.items),
            (Err(err), _) | (_, Err(err)) => return layout::api_error_page(&err),
        };
        let https = session::is_https(state, self.headers);
        let base = format!("/console/services/{}", service.sid);
        let body = html! {
            p { "Unique name " code { (service.unique_name) } ", SID " code { (service.sid) } "." }
            p { a href=(format!("{base}/files")) { "Assets and functions: upload files, build and deploy →" } }
            h2 #environments { "Environments" }
            @if environments.is_empty() {
                p.empty { "No environments yet. Create one below (for example " code { "production" }
                    "), then upload files and deploy a build to it." }
            } @else {
                div.table-wrap { table aria-labelledby="environments" {
                    thead { tr { th { "Environment" } th { "Domain" } th { "Live build" } th.wide-only { "Created" } } }
                    tbody { @for env in &environments { tr {
                        td { a href=(format!("{base}/environments/{}", env.sid)) { (env.unique_name) } }
                        td { a href=(super::domain_url(https, self.headers, self.uri, &env.domain_name)) { (env.domain_name) } }
                        td { @match &env.build_sid {
                            Some(build) => a href=(format!("{base}/builds/{build}")) { code { (short_sid(build)) } },
                            None => span.muted { "nothing deployed" },
                        } }
                        td.wide-only { (date(env.date_created)) }
                    } } }
                } }
            }
            section.card {
                h2 #new-env { "Create an environment" }
                form.stack method="post" action=(format!("{base}/environments")) aria-labelledby="new-env" {
                    (csrf_field(signed))
                    label { "Unique name" input type="text" name="UniqueName" required maxlength="100"; }
                    label { "Domain suffix (optional)"
                        input type="text" name="DomainSuffix" maxlength="16" spellcheck="false"
                            aria-describedby="suffix-help"; }
                    span #suffix-help .muted { "Up to 16 letters, digits and inner hyphens, such as " code { "dev" } "." }
                    button type="submit" { "Create environment" }
                }
            }
            h2 #builds { "Builds" }
            @if builds.is_empty() {
                p.empty { "No builds yet. Upload files on the " a href=(format!("{base}/files")) { "files page" }
                    ", then build and deploy them from there." }
            } @else {
                div.table-wrap { table aria-labelledby="builds" {
                    thead { tr { th { "Build" } th { "Status" } th { "Created" } } }
                    tbody { @for build in builds.iter().rev() { tr {
                        td { a href=(format!("{base}/builds/{}", build.sid)) { code { (build.sid) } } }
                        td { span class=(format!("status-{}", build.status.as_str())) { (build.status.as_str()) } }
                        td { (date(build.date_created)) }
                    } } }
                } }
            }
        };
        let crumbs = [("Services".to_owned(), "/console/services".to_owned())];
        layout::page(
            status,
            &service.friendly_name,
            Some(signed),
            &crumbs,
            notice.as_ref(),
            body,
        )
    }
}
