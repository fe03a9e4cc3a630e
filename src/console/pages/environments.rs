//! One environment: its domain, live build, deploy history with rollback to any earlier build,
//! and its variables (add, edit, delete). Creating an environment is a form of the service's
//! overview, so its errors are shown there.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use maud::html;

use super::super::form::Fields;
use super::super::layout::{self, csrf_field, date, short_sid, Notice};
use super::super::session::{self, Signed};
use super::services::OverviewRequest;
use super::{done, done_notice, first, newest};
use crate::domain::{builds, deployments, environments, variables};
use crate::store::BuildStatus;
use crate::AppState;

/// Deployments shown, newest first.
const HISTORY: u32 = 50;
/// Completed builds offered for deployment, newest first.
const BUILDS_OFFERED: u32 = 50;

pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Path(service): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    if !fields.csrf_ok(&signed) {
        return super::super::form::refused();
    }
    let created = environments::create(
        &state,
        &signed.ctx,
        &service,
        fields.non_empty("UniqueName"),
        fields.non_empty("DomainSuffix"),
    )
    .await;
    match created {
        Ok(env) => done(
            &format!(
                "/console/services/{}/environments/{}",
                env.service_sid, env.sid
            ),
            "environment-created",
        ),
        Err(err) => {
            let view = OverviewRequest {
                state: &state,
                signed: &signed,
                headers: &headers,
                uri: &uri,
            };
            view.render(&service, Some(Notice::from_error(&err)), err.status())
                .await
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path((service, environment)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let view = View {
        state: &state,
        signed: &signed,
        headers: &headers,
        uri: &uri,
    };
    view.render(
        (&service, &environment),
        done_notice(query.as_deref()),
        StatusCode::OK,
    )
    .await
}

struct View<'a> {
    state: &'a AppState,
    signed: &'a Signed,
    headers: &'a HeaderMap,
    uri: &'a Uri,
}

impl View<'_> {
    async fn render(
        &self,
        (service, environment): (&str, &str),
        notice: Option<Notice>,
        status: StatusCode,
    ) -> Response {
        let (state, signed) = (self.state, self.signed);
        let (service, env) =
            match environments::resolve(state, &signed.ctx, service, environment).await {
                Ok(found) => found,
                Err(err) => return layout::api_error_page(&err),
            };
        let history = deployments::list(state, &env, newest(HISTORY)).await;
        let vars = variables::list(state, &env, first(1000)).await;
        let offered = builds::list_rows(state, &service, newest(BUILDS_OFFERED)).await;
        let (history, vars, offered) = match (history, vars, offered) {
            (Ok(h), Ok(v), Ok(b)) => (h.items, v.items, b.items),
            (Err(err), _, _) | (_, Err(err), _) | (_, _, Err(err)) => {
                return layout::api_error_page(&err)
            }
        };
        let completed: Vec<&str> = offered
            .iter()
            .rev()
            .filter(|b| b.status == BuildStatus::Completed)
            .map(|b| b.sid.as_str())
            .collect();
        let https = session::is_https(state, self.headers);
        let svc = format!("/console/services/{}", service.sid);
        let base = format!("{svc}/environments/{}", env.sid);
        let live = env.build_sid.as_deref();
        let body = html! {
            p { "Domain: " a href=(super::domain_url(https, self.headers, self.uri, &env.domain_name)) { (env.domain_name) } }
            p { "Live build: " @match live {
                Some(build) => a href=(format!("{svc}/builds/{build}")) { code { (build) } },
                None => span.muted { "nothing deployed yet" },
            } }
            p { a href=(format!("{base}/logs")) { "Logs of this environment →" } }

            h2 #history { "Deploy history" }
            @if history.is_empty() {
                p.empty { "Nothing deployed yet. Build and deploy files from the "
                    a href=(format!("{svc}/files")) { "files page" } ", or deploy a completed build below." }
            } @else {
                div.table-wrap { table aria-labelledby="history" {
                    thead { tr { th { "Deployed" } th { "Build" } th { span.muted { "Actions" } } } }
                    tbody { @for (i, deployment) in history.iter().rev().enumerate() { tr {
                        td { (date(deployment.date_created)) }
                        td { @match &deployment.build_sid {
                            Some(build) => a href=(format!("{svc}/builds/{build}")) { code { (short_sid(build)) } },
                            None => span.muted { "none" },
                        } }
                        td {
                            @if i == 0 { strong { "live" } }
                            @else if let Some(build) = deployment.build_sid.as_deref().filter(|b| Some(*b) != live) {
                                form.inline method="post" action=(format!("{base}/deploy")) {
                                    (csrf_field(signed))
                                    input type="hidden" name="BuildSid" value=(build);
                                    button.secondary type="submit"
                                        aria-label=(format!("Roll back to build {build}")) { "Roll back to this build" }
                                }
                            }
                        }
                    } } }
                } }
            }
            section.card {
                h2 #deploy { "Deploy a build" }
                @if completed.is_empty() {
                    p.empty { "No completed build yet." }
                } @else {
                    form.row method="post" action=(format!("{base}/deploy")) aria-labelledby="deploy" {
                        (csrf_field(signed))
                        label { "Build" select name="BuildSid" {
                            @for build in &completed {
                                option value=(build) { (build) @if Some(*build) == live { " (live)" } }
                            }
                        } }
                        button type="submit" { "Deploy" }
                    }
                }
            }

            h2 #variables { "Variables" }
            @if vars.is_empty() {
                p.empty { "No variables. Functions read them from " code { "context" } "; add one below." }
            } @else {
                ul.plain aria-labelledby="variables" { @for var in &vars { li { section.card {
                    form.row method="post" action=(format!("{base}/variables/{}", var.sid)) {
                        (csrf_field(signed))
                        label { "Key" input type="text" name="Key" value=(var.key) required maxlength="128"; }
                        label { "Value" input type="text" name="Value" value=(var.value) maxlength="450"; }
                        button.secondary type="submit" aria-label=(format!("Save variable {}", var.key)) { "Save" }
                    }
                    form.inline method="post" action=(format!("{base}/variables/{}/delete", var.sid))
                        data-confirm=(format!("Delete variable {}?", var.key)) {
                        (csrf_field(signed))
                        button.danger type="submit" aria-label=(format!("Delete variable {}", var.key)) { "Delete" }
                    }
                } } } }
            }
            section.card {
                h2 #new-var { "Add a variable" }
                form.row method="post" action=(format!("{base}/variables")) aria-labelledby="new-var" {
                    (csrf_field(signed))
                    label { "Key" input type="text" name="Key" required maxlength="128"; }
                    label { "Value" input type="text" name="Value" maxlength="450"; }
                    button type="submit" { "Add variable" }
                }
            }
        };
        let crumbs = [
            ("Services".to_owned(), "/console/services".to_owned()),
            (service.friendly_name.clone(), svc.clone()),
        ];
        let title = format!("Environment {}", env.unique_name);
        layout::page(status, &title, Some(signed), &crumbs, notice.as_ref(), body)
    }
}

/// What every change on this page shares: the CSRF check, then `change`, then either a
/// redirect to the page with `code` or the page again with the error.
async fn change<F, Fut>(
    state: AppState,
    signed: Signed,
    (service, environment): (String, String),
    (headers, uri, body): (HeaderMap, Uri, Bytes),
    code: &str,
    change: F,
) -> Response
where
    F: FnOnce(AppState, Fields, crate::domain::Ctx) -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::error::ApiError>>,
{
    let fields = Fields::parse(&body);
    if !fields.csrf_ok(&signed) {
        return super::super::form::refused();
    }
    let page = format!("/console/services/{service}/environments/{environment}");
    match change(state.clone(), fields, signed.ctx.clone()).await {
        Ok(()) => done(&page, code),
        Err(err) => {
            let view = View {
                state: &state,
                signed: &signed,
                headers: &headers,
                uri: &uri,
            };
            view.render(
                (&service, &environment),
                Some(Notice::from_error(&err)),
                err.status(),
            )
            .await
        }
    }
}

pub async fn deploy(
    State(state): State<AppState>,
    signed: Signed,
    Path((service, environment)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let ids = (service.clone(), environment.clone());
    change(
        state,
        signed,
        ids,
        (headers, uri, body),
        "deployed",
        |state, fields, ctx| async move {
            let build = fields
                .non_empty("BuildSid")
                .ok_or(crate::error::ApiError::MissingParameter("BuildSid"))?;
            let ids = (service.as_str(), environment.as_str());
            let (_, domain) = deployments::create(&state, &ctx, ids, Some(build), None).await?;
            // Served by this node from the next request on, as after the API's deployment.
            state.sites.forget(&domain);
            Ok(())
        },
    )
    .await
}

pub async fn add_variable(
    State(state): State<AppState>,
    signed: Signed,
    Path((service, environment)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let ids = (service.clone(), environment.clone());
    change(
        state,
        signed,
        ids,
        (headers, uri, body),
        "variable-added",
        |state, fields, ctx| async move {
            let key = fields.non_empty("Key");
            let value = fields.get("Value").or(Some(""));
            variables::create(&state, &ctx, (&service, &environment), key, value).await?;
            Ok(())
        },
    )
    .await
}

pub async fn update_variable(
    State(state): State<AppState>,
    signed: Signed,
    Path((service, environment, variable)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let ids = (service.clone(), environment.clone());
    change(
        state,
        signed,
        ids,
        (headers, uri, body),
        "variable-saved",
        |state, fields, ctx| async move {
            let sids = (service.as_str(), environment.as_str(), variable.as_str());
            variables::update(&state, &ctx, sids, fields.get("Key"), fields.get("Value")).await?;
            Ok(())
        },
    )
    .await
}

pub async fn delete_variable(
    State(state): State<AppState>,
    signed: Signed,
    Path((service, environment, variable)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let ids = (service.clone(), environment.clone());
    change(
        state,
        signed,
        ids,
        (headers, uri, body),
        "variable-deleted",
        |state, _, ctx| async move {
            let sids = (service.as_str(), environment.as_str(), variable.as_str());
            variables::delete(&state, &ctx, sids).await
        },
    )
    .await
}
