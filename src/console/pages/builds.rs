//! Builds: one build's status and files, and creating a build from chosen versions, deployed
//! to an environment in the same step once the builder has completed it.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::super::form::Fields;
use super::super::layout::{self, csrf_field, date, size, Notice};
use super::super::session::Signed;
use super::{done, done_notice, first};
use crate::domain::{builds, deployments, environments, Ctx};
use crate::error::ApiError;
use crate::store::{BuildStatus, Version};
use crate::AppState;

/// How long the request that creates a build waits for it before answering; a build that
/// takes longer (an npm install) is deployed by a task once it completes.
const WAIT_IN_REQUEST: Duration = Duration::from_secs(20);
/// How long that task waits at most.
const WAIT_IN_BACKGROUND: Duration = Duration::from_secs(900);
const POLL: Duration = Duration::from_millis(200);

pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path((service, build)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = done_notice(query.as_deref());
    let detail = match builds::resolve(&state, &signed.ctx, &service, &build).await {
        Ok(detail) => detail,
        Err(err) => return layout::api_error_page(&err),
    };
    let service = match crate::domain::services::resolve(&state, &signed.ctx, &service).await {
        Ok(service) => service,
        Err(err) => return layout::api_error_page(&err),
    };
    let envs = match environments::list(&state, &service, first(100)).await {
        Ok(page) => page.items,
        Err(err) => return layout::api_error_page(&err),
    };
    let build = &detail.build;
    let svc = format!("/console/services/{}", service.sid);
    let files = |versions: &[Version], label: &str| {
        html! {
            @if versions.is_empty() {
                p.empty { "No " (label) " in this build." }
            } @else {
                div.table-wrap { table {
                    caption.muted { (versions.len()) " " (label) }
                    thead { tr { th { "Path" } th { "Visibility" } th { "Size" } th.wide-only { "Version" } } }
                    tbody { @for v in versions { tr {
                        td.mono { (v.path) } td { (v.visibility.as_str()) } td { (size(v.size)) }
                        td.mono.wide-only { (v.sid) }
                    } } }
                } }
            }
        }
    };
    let body = html! {
        p { "Status: " span class=(format!("status-{}", build.status.as_str())) { (build.status.as_str()) }
            @if build.status == BuildStatus::Building { span.muted { " (reload to see when it completes)" } } }
        @if let Some(failure) = &build.failure { p.notice.failed role="alert" { "Why it failed: " (failure) } }
        p.muted { "Runtime " (build.runtime) ", created " (date(build.date_created)) "." }
        h2 { "Assets" } (files(&detail.assets, "asset versions"))
        h2 { "Functions" } (files(&detail.functions, "function versions"))
        @if build.status == BuildStatus::Completed {
            section.card {
                h2 #deploy { "Deploy this build" }
                @if envs.is_empty() {
                    p.empty { "No environment to deploy to: create one on the " a href=(svc) { "service's page" } "." }
                } @else {
                    @for env in &envs {
                        form.inline method="post" action=(format!("{svc}/environments/{}/deploy", env.sid)) {
                            (csrf_field(&signed))
                            input type="hidden" name="BuildSid" value=(build.sid);
                            button.secondary type="submit" { "Deploy to " (env.unique_name)
                                @if env.build_sid.as_deref() == Some(build.sid.as_str()) { " (live)" } }
                            " "
                        }
                    }
                }
            }
        }
    };
    let crumbs = [
        ("Services".to_owned(), "/console/services".to_owned()),
        (service.friendly_name.clone(), svc),
    ];
    let title = format!("Build {}", build.sid);
    layout::page(
        StatusCode::OK,
        &title,
        Some(&signed),
        &crumbs,
        notice.as_ref(),
        body,
    )
}

/// CreateBuild from the versions chosen on the files page, then, when an environment was
/// chosen, CreateDeployment once the build completes.
pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    if !fields.csrf_ok(&signed) {
        return super::super::form::refused();
    }
    let input = builds::NewBuild {
        asset_versions: fields.all("AssetVersions"),
        function_versions: fields.all("FunctionVersions"),
        dependencies: None,
        runtime: None,
    };
    let detail = match builds::create(&state, &signed.ctx, &service, input).await {
        Ok(detail) => detail,
        Err(err) => {
            return super::super::files::render_with(
                &state,
                &signed,
                &service,
                Notice::from_error(&err),
                err.status(),
            )
            .await
        }
    };
    let build_page = format!(
        "/console/services/{}/builds/{}",
        detail.build.service_sid, detail.build.sid
    );
    let Some(environment) = fields.non_empty("Environment").map(str::to_owned) else {
        return done(&build_page, "build-created");
    };
    let target = Target {
        ctx: signed.ctx.clone(),
        service: detail.build.service_sid.clone(),
        environment,
        build: detail.build.sid.clone(),
    };
    match target.deploy_when_done(&state, WAIT_IN_REQUEST).await {
        Outcome::Deployed => done(
            &format!(
                "/console/services/{}/environments/{}",
                target.service, target.environment
            ),
            "deployed",
        ),
        Outcome::Failed => done(&build_page, "build-failed"),
        Outcome::Refused(err) => {
            // The build exists; only the deployment was refused: say so, with the reason.
            let reason = Notice::from_error(&err).into_text();
            layout::error_page(
                err.status(),
                &format!(
                    "Build {} was created, but it could not be deployed: {reason}",
                    target.build
                ),
            )
        }
        Outcome::StillBuilding => {
            let state = state.clone();
            tokio::spawn(async move {
                if let Outcome::Refused(err) =
                    target.deploy_when_done(&state, WAIT_IN_BACKGROUND).await
                {
                    tracing::warn!(build = %target.build, error = %err, "console deploy after build refused");
                }
            });
            done(&build_page, "deploy-pending")
        }
    }
}

/// A deployment to make once its build is done.
struct Target {
    ctx: Ctx,
    service: String,
    environment: String,
    build: String,
}

enum Outcome {
    Deployed,
    Failed,
    StillBuilding,
    Refused(ApiError),
}

impl Target {
    async fn deploy_when_done(&self, state: &AppState, wait: Duration) -> Outcome {
        let started = std::time::Instant::now();
        loop {
            let status = match state.store.build(&self.service, &self.build).await {
                Ok(detail) => detail.build.status,
                Err(err) => return Outcome::Refused(err.into()),
            };
            match status {
                BuildStatus::Completed => break,
                BuildStatus::Failed => return Outcome::Failed,
                BuildStatus::Building if started.elapsed() >= wait => {
                    return Outcome::StillBuilding
                }
                BuildStatus::Building => tokio::time::sleep(POLL).await,
            }
        }
        let ids = (self.service.as_str(), self.environment.as_str());
        match deployments::create(state, &self.ctx, ids, Some(&self.build), None).await {
            Ok((_, domain)) => {
                // Served by this node from the next request on, as after the API's deployment.
                state.sites.forget(&domain);
                Outcome::Deployed
            }
            Err(err) => Outcome::Refused(err),
        }
    }
}
