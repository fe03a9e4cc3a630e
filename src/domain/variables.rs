//! Variables (COMPAT §5.3): key/value pairs of one Environment.

use crate::domain::sid::{self, Prefix};
use crate::domain::Core;
use crate::domain::{environments, names, Ctx};
use crate::error::ApiError;
use crate::store::{Environment, Page, PageRequest, StoreError, Unique, Variable};

const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_BYTES: usize = 450;

fn check_value(value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(ApiError::invalid(format!(
            "Invalid Value: must be at most {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(())
}

fn conflict(err: StoreError, key: &str, ctx: &Ctx) -> ApiError {
    match err {
        StoreError::Conflict(Unique::VariableKey) => {
            ApiError::Conflict(format!("Variable with Key {key} already exists"))
        }
        StoreError::NotFound => ctx.not_found(),
        other => other.into(),
    }
}

/// Resolves Service, Environment and a Variable SID.
pub async fn resolve(
    core: &Core,
    ctx: &Ctx,
    (service, environment, sid): (&str, &str, &str),
) -> Result<(Environment, Variable), ApiError> {
    let (_, environment) = environments::resolve(core, ctx, service, environment).await?;
    if !sid::is_valid(Prefix::Variable, sid) {
        return Err(ctx.not_found());
    }
    let variable = ctx.found(core.store.variable(&environment.sid, sid).await)?;
    Ok((environment, variable))
}

#[tracing::instrument(skip_all)]
pub async fn create(
    core: &Core,
    ctx: &Ctx,
    (service, environment): (&str, &str),
    key: Option<&str>,
    value: Option<&str>,
) -> Result<Variable, ApiError> {
    let (_, environment) = environments::resolve(core, ctx, service, environment).await?;
    let key = key.ok_or(ApiError::MissingParameter("Key"))?;
    names::label("Key", key, MAX_KEY_CHARS)?;
    let value = value.ok_or(ApiError::MissingParameter("Value"))?;
    check_value(value)?;
    let now = crate::clock::now();
    let variable = Variable {
        seq: 0,
        sid: sid::generate(Prefix::Variable),
        account_sid: environment.account_sid.clone(),
        service_sid: environment.service_sid.clone(),
        environment_sid: environment.sid.clone(),
        key: key.to_owned(),
        value: value.to_owned(),
        date_created: now,
        date_updated: now,
    };
    core.store
        .create_variable(&variable)
        .await
        .map_err(|e| conflict(e, key, ctx))
}

pub async fn list(
    core: &Core,
    environment: &Environment,
    page: PageRequest,
) -> Result<Page<Variable>, ApiError> {
    Ok(core.store.list_variables(&environment.sid, page).await?)
}

/// UpdateVariable: `Key` and `Value` optional; an empty `Key` is invalid, an empty `Value` fine.
#[tracing::instrument(skip_all)]
pub async fn update(
    core: &Core,
    ctx: &Ctx,
    sids: (&str, &str, &str),
    key: Option<&str>,
    value: Option<&str>,
) -> Result<Variable, ApiError> {
    let (environment, variable) = resolve(core, ctx, sids).await?;
    if let Some(key) = key {
        if key.is_empty() {
            return Err(ApiError::invalid("Invalid Key: must not be empty"));
        }
        names::label("Key", key, MAX_KEY_CHARS)?;
    }
    if let Some(value) = value {
        check_value(value)?;
    }
    if key.is_none() && value.is_none() {
        return Ok(variable);
    }
    let now = crate::clock::now();
    core.store
        .update_variable(&environment.sid, &variable.sid, key, value, now)
        .await
        .map_err(|e| conflict(e, key.unwrap_or_default(), ctx))
}

#[tracing::instrument(skip_all)]
pub async fn delete(core: &Core, ctx: &Ctx, sids: (&str, &str, &str)) -> Result<(), ApiError> {
    let (environment, variable) = resolve(core, ctx, sids).await?;
    ctx.found(
        core.store
            .delete_variable(&environment.sid, &variable.sid)
            .await,
    )
}
