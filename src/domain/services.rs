//! Services (COMPAT §5.1): creation with a unique `domain_base`, lookup by SID or unique
//! name, update and cascading delete.

use rand::Rng;

use crate::domain::sid::{self, Prefix};
use crate::domain::Core;
use crate::domain::{names, Ctx};
use crate::error::ApiError;
use crate::store::{Page, PageRequest, Service, ServiceKey, ServicePatch, StoreError, Unique};

/// Validated input of CreateService.
#[derive(Debug)]
pub struct NewService {
    pub unique_name: String,
    pub friendly_name: String,
    pub include_credentials: bool,
    pub ui_editable: bool,
}

/// How many random `domain_base` suffixes to try before giving up on a crowded name.
const DOMAIN_BASE_ATTEMPTS: usize = 20;

#[tracing::instrument(skip_all, fields(unique_name = %input.unique_name))]
pub async fn create(core: &Core, ctx: &Ctx, input: NewService) -> Result<Service, ApiError> {
    let now = crate::clock::now();
    let mut service = Service {
        seq: 0,
        sid: sid::generate(Prefix::Service),
        account_sid: ctx.account.sid.clone(),
        friendly_name: input.friendly_name,
        unique_name: input.unique_name,
        include_credentials: input.include_credentials,
        ui_editable: input.ui_editable,
        domain_base: String::new(),
        date_created: now,
        date_updated: now,
    };
    for _ in 0..DOMAIN_BASE_ATTEMPTS {
        service.domain_base = domain_base(&service.unique_name);
        match core
            .store
            .create_service(&service, core.config.limits.max_services)
            .await
        {
            Ok(created) => return Ok(created),
            Err(StoreError::Conflict(Unique::ServiceDomainBase)) => continue,
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::Conflict(format!(
                    "Service with UniqueName {} already exists",
                    service.unique_name
                )))
            }
            Err(StoreError::LimitReached) => {
                return Err(ApiError::invalid(format!(
                    "Services per account limit ({}) reached",
                    core.config.limits.max_services
                )))
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Conflict(format!(
        "No free domain for UniqueName {}: try another name",
        service.unique_name
    )))
}

/// `{lowercase unique_name}-{4 random digits}` (COMPAT §6.2).
fn domain_base(unique_name: &str) -> String {
    let digits: u16 = rand::thread_rng().gen_range(0..10_000);
    format!("{}-{digits:04}", unique_name.to_ascii_lowercase())
}

/// Finds the Service a path segment names, by SID or unique name; 404 for anything else.
pub async fn resolve(core: &Core, ctx: &Ctx, segment: &str) -> Result<Service, ApiError> {
    let key = key(ctx, segment)?;
    ctx.found(core.store.service(&ctx.account.sid, key).await)
}

/// How a path segment addresses a Service: its SID or its unique name; 404 for anything else.
pub fn key<'s>(ctx: &Ctx, segment: &'s str) -> Result<ServiceKey<'s>, ApiError> {
    if sid::is_valid(Prefix::Service, segment) {
        Ok(ServiceKey::Sid(segment))
    } else if names::service_unique_name(segment).is_ok() {
        Ok(ServiceKey::UniqueName(segment))
    } else {
        Err(ctx.not_found())
    }
}

pub async fn list(core: &Core, ctx: &Ctx, page: PageRequest) -> Result<Page<Service>, ApiError> {
    Ok(core.store.list_services(&ctx.account.sid, page).await?)
}

/// Raw UpdateService parameters, validated after the Service is found (COMPAT §2.7).
#[derive(Debug, Default)]
pub struct ServiceUpdate<'a> {
    pub friendly_name: Option<&'a str>,
    pub include_credentials: Option<&'a str>,
    pub ui_editable: Option<&'a str>,
}

#[tracing::instrument(skip_all, fields(sid = %segment))]
pub async fn update(
    core: &Core,
    ctx: &Ctx,
    segment: &str,
    update: ServiceUpdate<'_>,
) -> Result<Service, ApiError> {
    let service = resolve(core, ctx, segment).await?;
    if let Some(name) = update.friendly_name {
        names::friendly_name(name)?;
    }
    let patch = ServicePatch {
        friendly_name: update.friendly_name.map(str::to_owned),
        include_credentials: update
            .include_credentials
            .map(|v| names::boolean("IncludeCredentials", v))
            .transpose()?,
        ui_editable: update
            .ui_editable
            .map(|v| names::boolean("UiEditable", v))
            .transpose()?,
    };
    if patch.friendly_name.is_none()
        && patch.include_credentials.is_none()
        && patch.ui_editable.is_none()
    {
        return Ok(service);
    }
    let result = core
        .store
        .update_service(&service.sid, &patch, crate::clock::now())
        .await;
    ctx.found(result)
}

#[tracing::instrument(skip_all, fields(sid = %segment))]
pub async fn delete(core: &Core, ctx: &Ctx, segment: &str) -> Result<(), ApiError> {
    let service = resolve(core, ctx, segment).await?;
    ctx.found(core.store.delete_service(&service.sid).await)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_base_is_lowercase_name_and_four_digits() {
        let base = domain_base("My-App");
        let (name, digits) = base.rsplit_once('-').unwrap();
        assert_eq!(name, "my-app");
        assert_eq!(digits.len(), 4);
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    }
}
