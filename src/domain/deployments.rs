//! Deployments (COMPAT §5.11): point an Environment at a completed Build, atomically.

use crate::domain::sid::{self, Prefix};
use crate::domain::Core;
use crate::domain::{environments, Ctx};
use crate::error::ApiError;
use crate::store::{Deployment, Environment, Page, PageRequest, StoreError};

/// Creates a deployment; returns it with the domain that now serves its build.
#[tracing::instrument(skip_all)]
pub async fn create(
    core: &Core,
    ctx: &Ctx,
    (service, environment): (&str, &str),
    build_sid: Option<&str>,
    is_plugin: Option<&str>,
) -> Result<(Deployment, String), ApiError> {
    let (_, environment) = environments::resolve(core, ctx, service, environment).await?;
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
    let created = match core.store.create_deployment(&deployment).await {
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
    Ok((created, environment.domain_name))
}

/// Resolves Service, Environment and a Deployment SID.
pub async fn resolve(
    core: &Core,
    ctx: &Ctx,
    (service, environment, sid): (&str, &str, &str),
) -> Result<Deployment, ApiError> {
    let (_, environment) = environments::resolve(core, ctx, service, environment).await?;
    if !sid::is_valid(Prefix::Deployment, sid) {
        return Err(ctx.not_found());
    }
    ctx.found(core.store.deployment(&environment.sid, sid).await)
}

pub async fn list(
    core: &Core,
    environment: &Environment,
    page: PageRequest,
) -> Result<Page<Deployment>, ApiError> {
    Ok(core.store.list_deployments(&environment.sid, page).await?)
}
