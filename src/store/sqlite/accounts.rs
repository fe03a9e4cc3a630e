//! Subaccounts and API keys (COMPAT §16).

use sqlx::sqlite::SqlitePool;

use super::errors::map_err;
use super::listing::{delete_row, fetch_row, list_rows, Arg, Listing};
use super::writer::Writer;
use crate::store::paging::{Page, PageRequest};
use crate::store::tables::{ACCOUNT_COLUMNS, KEY_COLUMNS};
use crate::store::{
    AccountFilter, AccountPatch, AccountRecord, AccountScope, AccountStatus, ApiKey, StoreResult,
};

pub async fn create_account(
    writer: &Writer,
    account: &AccountRecord,
) -> StoreResult<AccountRecord> {
    let account = account.clone();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                // One writer: the next `seq` cannot be taken by anyone else meanwhile.
                let sql = format!(
                    "INSERT INTO accounts (seq, sid, auth_token, friendly_name, status, \
                     owner_account_sid, date_created, date_updated) \
                     VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM accounts), \
                     ?, ?, ?, ?, ?, ?, ?) RETURNING {ACCOUNT_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&account.sid)
                    .bind(&account.auth_token)
                    .bind(&account.friendly_name)
                    .bind(account.status)
                    .bind(&account.owner_account_sid)
                    .bind(account.date_created)
                    .bind(account.date_updated)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn account_record(readers: &SqlitePool, sid: &str) -> StoreResult<Option<AccountRecord>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE sid = ?");
    sqlx::query_as(&sql)
        .bind(sid)
        .fetch_optional(readers)
        .await
        .map_err(map_err)
}

pub async fn list_account_records(
    readers: &SqlitePool,
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
    list_rows(readers, &listing, page).await
}

pub async fn update_account(
    writer: &Writer,
    sid: &str,
    patch: &AccountPatch,
    now: i64,
) -> StoreResult<AccountRecord> {
    let (sid, patch) = (sid.to_owned(), patch.clone());
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE accounts SET friendly_name = COALESCE(?, friendly_name), \
                     status = CASE WHEN status = ? THEN status ELSE COALESCE(?, status) END, \
                     date_updated = ? WHERE sid = ? RETURNING {ACCOUNT_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&patch.friendly_name)
                    .bind(AccountStatus::Closed)
                    .bind(patch.status)
                    .bind(now)
                    .bind(&sid)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn create_key(writer: &Writer, key: &ApiKey) -> StoreResult<ApiKey> {
    let key = key.clone();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "INSERT INTO api_keys (sid, account_sid, friendly_name, secret_hash, \
                     date_created, date_updated) VALUES (?, ?, ?, ?, ?, ?) \
                     RETURNING {KEY_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&key.sid)
                    .bind(&key.account_sid)
                    .bind(&key.friendly_name)
                    .bind(&key.secret_hash)
                    .bind(key.date_created)
                    .bind(key.date_updated)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn key(readers: &SqlitePool, account_sid: &str, sid: &str) -> StoreResult<ApiKey> {
    fetch_row(
        readers,
        (KEY_COLUMNS, "api_keys"),
        "account_sid",
        account_sid,
        sid,
    )
    .await
}

pub async fn key_for_auth(readers: &SqlitePool, sid: &str) -> StoreResult<Option<ApiKey>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE sid = ?");
    sqlx::query_as(&sql)
        .bind(sid)
        .fetch_optional(readers)
        .await
        .map_err(map_err)
}

pub async fn list_keys(
    readers: &SqlitePool,
    account_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<ApiKey>> {
    let listing = Listing {
        columns: KEY_COLUMNS,
        table: "api_keys",
        conditions: vec![("account_sid = ", Arg::Text(account_sid))],
        descending: false,
    };
    list_rows(readers, &listing, page).await
}

pub async fn rename_key(
    writer: &Writer,
    (account_sid, sid): (&str, &str),
    friendly_name: Option<&str>,
    now: i64,
) -> StoreResult<ApiKey> {
    let (account_sid, sid) = (account_sid.to_owned(), sid.to_owned());
    let friendly_name = friendly_name.map(str::to_owned);
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE api_keys SET friendly_name = COALESCE(?, friendly_name), \
                     date_updated = ? WHERE sid = ? AND account_sid = ? RETURNING {KEY_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&friendly_name)
                    .bind(now)
                    .bind(&sid)
                    .bind(&account_sid)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn delete_key(writer: &Writer, account_sid: &str, sid: &str) -> StoreResult<()> {
    delete_row(writer, "api_keys", "account_sid", account_sid, sid).await
}
