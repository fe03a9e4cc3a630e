//! Assets and Functions (COMPAT §5.4, §5.7): named holders of versions, identical in shape,
//! both addressed below a Service.

use crate::domain::sid::{self, Prefix};
use crate::domain::Core;
use crate::domain::{names, services, Ctx};
use crate::error::ApiError;
use crate::store::{Container, ContainerKind, Page, PageRequest, Service, StoreError};

/// Resolves the Service segment and a container SID under it; 404 when either is unknown,
/// malformed or another account's.
pub async fn resolve(
    core: &Core,
    ctx: &Ctx,
    kind: ContainerKind,
    service: &str,
    sid: &str,
) -> Result<(Service, Container), ApiError> {
    let key = services::key(ctx, service)?;
    if !sid::is_valid(Prefix::Container, sid) {
        return Err(ctx.not_found());
    }
    ctx.found(
        core.store
            .service_container(&ctx.account.sid, key, kind, sid)
            .await,
    )
}

/// `FriendlyName` is required on create and on update.
fn required_friendly_name(value: Option<&str>) -> Result<&str, ApiError> {
    let name = value.ok_or(ApiError::MissingParameter("FriendlyName"))?;
    names::friendly_name(name)?;
    Ok(name)
}

#[tracing::instrument(skip_all, fields(kind = ?kind))]
pub async fn create(
    core: &Core,
    ctx: &Ctx,
    kind: ContainerKind,
    service: &str,
    friendly_name: Option<&str>,
) -> Result<Container, ApiError> {
    let service = services::resolve(core, ctx, service).await?;
    let friendly_name = required_friendly_name(friendly_name)?;
    let now = crate::clock::now();
    let container = Container {
        seq: 0,
        sid: sid::generate(Prefix::Container),
        account_sid: service.account_sid,
        service_sid: service.sid,
        friendly_name: friendly_name.to_owned(),
        date_created: now,
        date_updated: now,
    };
    ctx.found(core.store.create_container(kind, &container).await)
}

/// One page of the containers of an already resolved Service.
pub async fn list(
    core: &Core,
    kind: ContainerKind,
    service: &Service,
    page: PageRequest,
) -> Result<std::sync::Arc<Page<Container>>, ApiError> {
    Ok(core.store.list_containers(kind, &service.sid, page).await?)
}

#[tracing::instrument(skip_all, fields(kind = ?kind, sid = %sid))]
pub async fn rename(
    core: &Core,
    ctx: &Ctx,
    kind: ContainerKind,
    service: &str,
    sid: &str,
    friendly_name: Option<&str>,
) -> Result<Container, ApiError> {
    let (service, container) = resolve(core, ctx, kind, service, sid).await?;
    let friendly_name = required_friendly_name(friendly_name)?;
    let now = crate::clock::now();
    let result = core
        .store
        .rename_container(kind, &service.sid, &container.sid, friendly_name, now)
        .await;
    ctx.found(result)
}

#[tracing::instrument(skip_all, fields(kind = ?kind, sid = %sid))]
pub async fn delete(
    core: &Core,
    ctx: &Ctx,
    kind: ContainerKind,
    service: &str,
    sid: &str,
) -> Result<(), ApiError> {
    let (service, container) = resolve(core, ctx, kind, service, sid).await?;
    let result = core
        .store
        .delete_container(kind, &service.sid, &container.sid)
        .await;
    match result {
        Err(StoreError::InUse(build)) => {
            let what = match kind {
                ContainerKind::Asset => "Asset",
                ContainerKind::Function => "Function",
            };
            Err(ApiError::Conflict(format!(
                "{what} {} is used by Build {build}",
                container.sid
            )))
        }
        other => ctx.found(other),
    }
}
