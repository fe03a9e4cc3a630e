//! Deployments (COMPAT §5.11): point an Environment at a completed Build, atomically.

use crate::domain::sid::{self, Prefix};
use crate::domain::{environments, Ctx};
use crate::error::ApiError;
use crate::store::{Deployment, Environment, Page, PageRequest, StoreError};
use crate::AppState;

/// Creates a deployment; from the moment this returns the asset host serves the new build.
#[tracing::instrument(skip_all)]
pub async fn create(
    state: &AppState,
    ctx: &Ctx,
    (service, environment): (&str, &str),
    build_sid: Option<&str>,
    is_plugin: Option<&str>,
) -> Result<Deployment, ApiError> {
    let (_, environment) = environments::resolve(state, ctx, service, environment).await?;
    if let Some(build) = build_sid {
        if !sid::is_valid(Prefix::Build, build) {
            return Err(ApiError::invalid(format!(
                "Invalid BuildSid: {}",
                crate::domain::names::truncate_for_message(build)
            )));
        }
    }
    if let Some(flag) = is_plugin {
        crate::domain::names::boolean("IsPlugin", flag)?;
    }
    let now = crate::clock::now();
    let deployment = Deployment {
        seq: 0,
        sid: sid::generate(Prefix::Deployment),
        account_sid: environment.account_sid.clone(),
        service_sid: environment.service_sid.clone(),
        environment_sid: environment.sid.clone(),
        build_sid: build_sid.map(str::to_owned),
        date_created: now,
        date_updated: now,
    };
    let created = match state.store.create_deployment(&deployment).await {
        Ok(created) => created,
        Err(StoreError::NotFound) => {
            return Err(match build_sid {
                Some(build) => ApiError::not_found(format!(
                    "/Services/{}/Builds/{build}",
                    environment.service_sid
                )),
                None => ctx.not_found(),
            })
        }
        Err(StoreError::NotCompleted) => {
            return Err(ApiError::Conflict(format!(
                "Build {} is not completed",
                build_sid.unwrap_or_default()
            )))
        }
        Err(err) => return Err(err.into()),
    };
    state.sites.forget(&environment.domain_name);
    Ok(created)
}

/// Resolves Service, Environment and a Deployment SID.
pub async fn resolve(
    state: &AppState,
    ctx: &Ctx,
    (service, environment, sid): (&str, &str, &str),
) -> Result<Deployment, ApiError> {
    let (_, environment) = environments::resolve(state, ctx, service, environment).await?;
    if !sid::is_valid(Prefix::Deployment, sid) {
        return Err(ctx.not_found());
    }
    ctx.found(state.store.deployment(&environment.sid, sid).await)
}

pub async fn list(
    state: &AppState,
    environment: &Environment,
    page: PageRequest,
) -> Result<Page<Deployment>, ApiError> {
    Ok(state.store.list_deployments(&environment.sid, page).await?)
}
