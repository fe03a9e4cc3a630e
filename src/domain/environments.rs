//! Environments (COMPAT §5.2): a named target with its own domain, to which builds deploy.

use crate::domain::sid::{self, Prefix};
use crate::domain::Core;
use crate::domain::{names, services, Ctx};
use crate::error::ApiError;
use crate::store::{Environment, Page, PageRequest, Service, StoreError, Unique};

/// `DomainSuffix`: letters, digits and inner hyphens, at most 16 (COMPAT §6.1).
pub fn domain_suffix(value: &str) -> Result<(), ApiError> {
    let b = value.as_bytes();
    let ok = b.len() <= 16
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric);
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Invalid DomainSuffix: {}: use at most 16 letters, digits and inner hyphens",
            names::truncate_for_message(value)
        )))
    }
}

/// `{domain_base}[-{suffix}].{host domain}`, lowercase (COMPAT §5.2).
pub fn domain_name(service: &Service, suffix: Option<&str>, host_domain: &str) -> String {
    match suffix {
        Some(s) => format!(
            "{}-{}.{host_domain}",
            service.domain_base,
            s.to_ascii_lowercase()
        ),
        None => format!("{}.{host_domain}", service.domain_base),
    }
}

/// Resolves the Service segment and an Environment SID under it.
pub async fn resolve(
    core: &Core,
    ctx: &Ctx,
    service: &str,
    sid: &str,
) -> Result<(Service, Environment), ApiError> {
    let service = services::resolve(core, ctx, service).await?;
    if !sid::is_valid(Prefix::Environment, sid) {
        return Err(ctx.not_found());
    }
    let environment = ctx.found(core.store.environment(&service.sid, sid).await)?;
    Ok((service, environment))
}

#[tracing::instrument(skip_all)]
pub async fn create(
    core: &Core,
    ctx: &Ctx,
    service: &str,
    unique_name: Option<&str>,
    suffix: Option<&str>,
) -> Result<Environment, ApiError> {
    let service = services::resolve(core, ctx, service).await?;
    let unique_name = unique_name.ok_or(ApiError::MissingParameter("UniqueName"))?;
    names::label("UniqueName", unique_name, 100)?;
    if let Some(suffix) = suffix {
        domain_suffix(suffix)?;
    }
    let now = crate::clock::now();
    let environment = Environment {
        seq: 0,
        sid: sid::generate(Prefix::Environment),
        account_sid: service.account_sid.clone(),
        service_sid: service.sid.clone(),
        build_sid: None,
        unique_name: unique_name.to_owned(),
        domain_suffix: suffix.map(str::to_owned),
        domain_name: domain_name(&service, suffix, &core.config.host_domain),
        date_created: now,
        date_updated: now,
    };
    let max = core.config.limits.max_environments;
    match core.store.create_environment(&environment, max).await {
        Ok(created) => Ok(created),
        Err(StoreError::Conflict(Unique::EnvironmentName)) => Err(ApiError::Conflict(
            "Environment with this UniqueName or DomainSuffix already exists.".into(),
        )),
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(format!(
            "Domain {} is already taken",
            environment.domain_name
        ))),
        Err(StoreError::LimitReached) => Err(ApiError::invalid(format!(
            "Environments per Service limit ({max}) reached"
        ))),
        Err(StoreError::NotFound) => Err(ctx.not_found()),
        Err(err) => Err(err.into()),
    }
}

pub async fn list(
    core: &Core,
    service: &Service,
    page: PageRequest,
) -> Result<Page<Environment>, ApiError> {
    Ok(core.store.list_environments(&service.sid, page).await?)
}

#[tracing::instrument(skip_all, fields(sid = %sid))]
/// Deletes the environment; returns the domain that no longer serves anything.
pub async fn delete(core: &Core, ctx: &Ctx, service: &str, sid: &str) -> Result<String, ApiError> {
    let (service, environment) = resolve(core, ctx, service, sid).await?;
    ctx.found(
        core.store
            .delete_environment(&service.sid, &environment.sid)
            .await,
    )?;
    Ok(environment.domain_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_rules() {
        for ok in ["dev", "Stage-2", "a", "abcdefghijklmnop"] {
            assert!(domain_suffix(ok).is_ok(), "{ok}");
        }
        for bad in ["-dev", "dev-", "d_v", "abcdefghijklmnopq", "dév"] {
            assert!(domain_suffix(bad).is_err(), "{bad}");
        }
    }
}
