//! Subaccounts and API keys (COMPAT §16).
//!
//! Every write is one statement, so no explicit lock is needed: an account update reads and
//! writes its row atomically (a `closed` status cannot be reopened by a concurrent update),
//! and inserting a key or a subaccount holds `FOR KEY SHARE` on the parent row through its
//! foreign key, so the parent cannot vanish under it.

use sqlx::postgres::PgPool;

use super::errors::map_err;
use super::listing::{delete_row, fetch_row, list_rows, Arg, Listing};
use crate::store::paging::{Page, PageRequest};
use crate::store::tables::{ACCOUNT_COLUMNS, KEY_COLUMNS};
use crate::store::{
    AccountFilter, AccountPatch, AccountRecord, AccountScope, AccountStatus, ApiKey, StoreResult,
};

pub async fn create_account(pool: &PgPool, account: &AccountRecord) -> StoreResult<AccountRecord> {
    let sql = format!(
        "INSERT INTO accounts (sid, auth_token, friendly_name, status, owner_account_sid, \
         date_created, date_updated) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING {ACCOUNT_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(&account.sid)
        .bind(&account.auth_token)
        .bind(&account.friendly_name)
        .bind(account.status)
        .bind(&account.owner_account_sid)
        .bind(account.date_created)
        .bind(account.date_updated)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

pub async fn account_record(pool: &PgPool, sid: &str) -> StoreResult<Option<AccountRecord>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE sid = $1");
    sqlx::query_as(&sql)
        .bind(sid)
        .fetch_optional(pool)
        .await
        .map_err(map_err)
}

pub async fn list_account_records(
    pool: &PgPool,
    scope: AccountScope<'_>,
    filter: &AccountFilter<'_>,
    page: PageRequest,
) -> StoreResult<Page<AccountRecord>> {
    let mut conditions = vec![match scope {
        // A main account has no owner, its subaccounts have it as owner.
        AccountScope::Family(sid) => ("COALESCE(owner_account_sid, sid) = ", Arg::Text(sid)),
        AccountScope::Only(sid) => ("sid = ", Arg::Text(sid)),
    }];
    if let Some(name) = filter.friendly_name {
        conditions.push(("friendly_name = ", Arg::Text(name)));
    }
    if let Some(status) = filter.status {
        conditions.push(("status = ", Arg::Text(status.as_str())));
    }
    let listing = Listing {
        columns: ACCOUNT_COLUMNS,
        table: "accounts",
        conditions,
        descending: false,
    };
    list_rows(pool, &listing, page).await
}

pub async fn update_account(
    pool: &PgPool,
    sid: &str,
    patch: &AccountPatch,
    now: i64,
) -> StoreResult<AccountRecord> {
    let sql = format!(
        "UPDATE accounts SET friendly_name = COALESCE($1, friendly_name), \
         status = CASE WHEN status = $2 THEN status ELSE COALESCE($3, status) END, \
         date_updated = $4 WHERE sid = $5 RETURNING {ACCOUNT_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(&patch.friendly_name)
        .bind(AccountStatus::Closed)
        .bind(patch.status)
        .bind(now)
        .bind(sid)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

pub async fn create_key(pool: &PgPool, key: &ApiKey) -> StoreResult<ApiKey> {
    let sql = format!(
        "INSERT INTO api_keys (sid, account_sid, friendly_name, secret_hash, date_created, \
         date_updated) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {KEY_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(&key.sid)
        .bind(&key.account_sid)
        .bind(&key.friendly_name)
        .bind(&key.secret_hash)
        .bind(key.date_created)
        .bind(key.date_updated)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

pub async fn key(pool: &PgPool, account_sid: &str, sid: &str) -> StoreResult<ApiKey> {
    fetch_row(
        pool,
        (KEY_COLUMNS, "api_keys"),
        "account_sid",
        account_sid,
        sid,
    )
    .await
}

pub async fn key_for_auth(pool: &PgPool, sid: &str) -> StoreResult<Option<ApiKey>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE sid = $1");
    sqlx::query_as(&sql)
        .bind(sid)
        .fetch_optional(pool)
        .await
        .map_err(map_err)
}

pub async fn list_keys(
    pool: &PgPool,
    account_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<ApiKey>> {
    let listing = Listing::scoped(KEY_COLUMNS, "api_keys", "account_sid = ", account_sid);
    list_rows(pool, &listing, page).await
}

pub async fn rename_key(
    pool: &PgPool,
    (account_sid, sid): (&str, &str),
    friendly_name: Option<&str>,
    now: i64,
) -> StoreResult<ApiKey> {
    let sql = format!(
        "UPDATE api_keys SET friendly_name = COALESCE($1, friendly_name), date_updated = $2 \
         WHERE sid = $3 AND account_sid = $4 RETURNING {KEY_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(friendly_name)
        .bind(now)
        .bind(sid)
        .bind(account_sid)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

pub async fn delete_key(pool: &PgPool, account_sid: &str, sid: &str) -> StoreResult<()> {
    delete_row(pool, "api_keys", "account_sid", account_sid, sid).await
}
