//! Subaccounts and API keys (COMPAT §16.4): who may see and change which account, and the
//! rules on names and statuses. `caller` is the authenticated account (never a key here: keys
//! are refused on these paths before any of this runs).

use rand::distributions::{Alphanumeric, DistString};

use crate::domain::sid::{self, Prefix};
use crate::domain::Core;
use crate::error::ApiError;
use crate::store::{
    AccountFilter, AccountPatch, AccountRecord, AccountScope, AccountStatus, ApiKey, Named, Page,
    PageRequest, StoreError,
};

/// Longest `FriendlyName` of an account or a key (COMPAT §16.2).
const MAX_NAME: usize = 64;

fn check_name(value: &str) -> Result<(), ApiError> {
    if value.chars().count() > MAX_NAME {
        return Err(ApiError::invalid(format!(
            "Invalid FriendlyName: must be at most {MAX_NAME} characters"
        )));
    }
    Ok(())
}

/// Hex SHA-256 of a key secret: the only form in which secrets are stored. Secrets are 32
/// random alphanumerics (about 190 bits), so a fast hash cannot be searched backwards.
pub fn secret_hash(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// `Status` as the API names it; anything else is 400 / 20001.
pub fn parse_status(value: &str) -> Result<AccountStatus, ApiError> {
    AccountStatus::from_name(value).ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid Status: {}",
            crate::domain::names::truncate_for_message(value)
        ))
    })
}

/// Creates a subaccount of `caller`, which must be a main account (403 otherwise).
pub async fn create(
    core: &Core,
    caller: &AccountRecord,
    friendly_name: Option<&str>,
) -> Result<AccountRecord, ApiError> {
    if let Some(name) = friendly_name {
        check_name(name)?;
    }
    if caller.owner_account_sid.is_some() {
        return Err(ApiError::Forbidden(
            "A subaccount cannot create accounts".into(),
        ));
    }
    let now = crate::clock::now();
    let token = sid::generate(Prefix::Account);
    let account = AccountRecord {
        seq: 0,
        sid: sid::generate(Prefix::Account),
        auth_token: token[2..].to_owned(),
        friendly_name: friendly_name.map_or_else(
            || {
                format!(
                    "SubAccount Created at {}",
                    crate::clock::format_minute_meridian(now)
                )
            },
            str::to_owned,
        ),
        status: AccountStatus::Active,
        owner_account_sid: Some(caller.sid.clone()),
        date_created: now,
        date_updated: now,
    };
    Ok(core.store.create_account(&account).await?)
}

/// The account `sid` as `caller` may reach it: itself or one of its subaccounts; anything else
/// (malformed, unknown, foreign) is the 404 of `path`.
pub async fn resolve(
    core: &Core,
    caller: &AccountRecord,
    sid: &str,
    path: &str,
) -> Result<AccountRecord, ApiError> {
    let not_found = || ApiError::not_found_at(path);
    if !sid::is_valid(Prefix::Account, sid) {
        return Err(not_found());
    }
    if sid == caller.sid {
        return Ok(caller.clone());
    }
    let account = core
        .store
        .account_record(sid)
        .await?
        .ok_or_else(not_found)?;
    if account.owner_account_sid.as_deref() != Some(caller.sid.as_str()) {
        return Err(not_found());
    }
    Ok(account)
}

/// `caller` itself, then its subaccounts (a subaccount sees only itself).
pub async fn list(
    core: &Core,
    caller: &AccountRecord,
    filter: &AccountFilter<'_>,
    page: PageRequest,
) -> Result<Page<AccountRecord>, ApiError> {
    let scope = match caller.owner_account_sid {
        None => AccountScope::Family(&caller.sid),
        Some(_) => AccountScope::Only(&caller.sid),
    };
    Ok(core.store.list_account_records(scope, filter, page).await?)
}

/// Changes `target` (already resolved for `caller`): its name, and its status when `caller`
/// is its parent.
pub async fn update(
    core: &Core,
    caller: &AccountRecord,
    target: &AccountRecord,
    friendly_name: Option<&str>,
    status: Option<&str>,
) -> Result<AccountRecord, ApiError> {
    if let Some(name) = friendly_name {
        check_name(name)?;
    }
    let status = status.map(parse_status).transpose()?;
    if let Some(wanted) = status {
        if target.sid == caller.sid {
            return Err(ApiError::Forbidden(
                "An account cannot change its own status".into(),
            ));
        }
        if target.status == AccountStatus::Closed && wanted != AccountStatus::Closed {
            return Err(ApiError::AccountClosed(format!(
                "Account {} is closed and cannot be reopened",
                target.sid
            )));
        }
    }
    let patch = AccountPatch {
        friendly_name: friendly_name.map(str::to_owned),
        status,
    };
    match core
        .store
        .update_account(&target.sid, &patch, crate::clock::now())
        .await
    {
        Ok(updated) => Ok(updated),
        Err(StoreError::NotFound) => Err(ApiError::not_found_at(&format!(
            "/2010-04-01/Accounts/{}.json",
            target.sid
        ))),
        Err(err) => Err(err.into()),
    }
}

/// A new key of `account` and its secret, which is shown once and stored only as a hash.
pub async fn create_key(
    core: &Core,
    account: &AccountRecord,
    friendly_name: Option<&str>,
) -> Result<(ApiKey, String), ApiError> {
    if let Some(name) = friendly_name {
        check_name(name)?;
    }
    let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    let now = crate::clock::now();
    let key = ApiKey {
        seq: 0,
        sid: sid::generate(Prefix::Key),
        account_sid: account.sid.clone(),
        friendly_name: friendly_name.map(str::to_owned),
        secret_hash: secret_hash(&secret),
        date_created: now,
        date_updated: now,
    };
    let key = core.store.create_key(&key).await?;
    Ok((key, secret))
}

fn key_result<T>(result: Result<T, StoreError>, path: &str) -> Result<T, ApiError> {
    match result {
        Ok(value) => Ok(value),
        Err(StoreError::NotFound) => Err(ApiError::not_found_at(path)),
        Err(err) => Err(err.into()),
    }
}

/// The key `sid` of `account`, or the 404 of `path`.
pub async fn key(
    core: &Core,
    account: &AccountRecord,
    sid: &str,
    path: &str,
) -> Result<ApiKey, ApiError> {
    if !sid::is_valid(Prefix::Key, sid) {
        return Err(ApiError::not_found_at(path));
    }
    key_result(core.store.key(&account.sid, sid).await, path)
}

pub async fn list_keys(
    core: &Core,
    account: &AccountRecord,
    page: PageRequest,
) -> Result<Page<ApiKey>, ApiError> {
    Ok(core.store.list_keys(&account.sid, page).await?)
}

pub async fn rename_key(
    core: &Core,
    account: &AccountRecord,
    sid: &str,
    friendly_name: Option<&str>,
    path: &str,
) -> Result<ApiKey, ApiError> {
    if !sid::is_valid(Prefix::Key, sid) {
        return Err(ApiError::not_found_at(path));
    }
    if let Some(name) = friendly_name {
        check_name(name)?;
    }
    let result = core
        .store
        .rename_key(&account.sid, sid, friendly_name, crate::clock::now())
        .await;
    key_result(result, path)
}

pub async fn delete_key(
    core: &Core,
    account: &AccountRecord,
    sid: &str,
    path: &str,
) -> Result<(), ApiError> {
    if !sid::is_valid(Prefix::Key, sid) {
        return Err(ApiError::not_found_at(path));
    }
    key_result(core.store.delete_key(&account.sid, sid).await, path)
}
