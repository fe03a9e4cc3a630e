//! Accounts and Services.

use sqlx::sqlite::SqlitePool;

use super::errors::map_err;
use super::listing::list_page;
use super::writer::Writer;
use crate::store::paging::{Page, PageRequest};
use crate::store::tables::*;
use crate::store::{Account, Service, ServiceKey, ServicePatch, StoreError, StoreResult};

pub async fn upsert_account(writer: &Writer, account: &Account) -> StoreResult<()> {
    let account = account.clone();
    let now = crate::clock::now();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO accounts (seq, sid, auth_token, date_created, date_updated) \
                     VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM accounts), ?, ?, ?, ?) \
                     ON CONFLICT (sid) DO UPDATE SET auth_token = excluded.auth_token",
                )
                .bind(&account.sid)
                .bind(&account.auth_token)
                .bind(now)
                .bind(now)
                .execute(conn)
                .await
                .map_err(map_err)?;
                Ok(())
            })
        })
        .await
}

pub async fn account(readers: &SqlitePool, sid: &str) -> StoreResult<Option<Account>> {
    sqlx::query_as("SELECT sid, auth_token FROM accounts WHERE sid = ?")
        .bind(sid)
        .fetch_optional(readers)
        .await
        .map_err(map_err)
}

pub async fn first_account(readers: &SqlitePool) -> StoreResult<Option<Account>> {
    sqlx::query_as(
        "SELECT sid, auth_token FROM accounts WHERE owner_account_sid IS NULL \
         ORDER BY seq LIMIT 1",
    )
    .fetch_optional(readers)
    .await
    .map_err(map_err)
}

pub async fn list_accounts(readers: &SqlitePool) -> StoreResult<Vec<Account>> {
    sqlx::query_as("SELECT sid, auth_token FROM accounts ORDER BY seq")
        .fetch_all(readers)
        .await
        .map_err(map_err)
}

pub async fn create_service(
    writer: &Writer,
    service: &Service,
    max_services: u32,
) -> StoreResult<Service> {
    let service = service.clone();
    writer
        .write(move |conn| {
            Box::pin(async move {
                if max_services > 0 {
                    let count: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM services WHERE account_sid = ?")
                            .bind(&service.account_sid)
                            .fetch_one(&mut *conn)
                            .await
                            .map_err(map_err)?;
                    if count >= i64::from(max_services) {
                        return Err(StoreError::LimitReached);
                    }
                }
                let sql = format!(
                    "INSERT INTO services (sid, account_sid, friendly_name, unique_name, \
                     include_credentials, ui_editable, domain_base, date_created, \
                     date_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     RETURNING {SERVICE_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&service.sid)
                    .bind(&service.account_sid)
                    .bind(&service.friendly_name)
                    .bind(&service.unique_name)
                    .bind(service.include_credentials)
                    .bind(service.ui_editable)
                    .bind(&service.domain_base)
                    .bind(service.date_created)
                    .bind(service.date_updated)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn service(
    readers: &SqlitePool,
    account_sid: &str,
    key: ServiceKey<'_>,
) -> StoreResult<Service> {
    let (column, value) = match key {
        ServiceKey::Sid(sid) => ("sid", sid),
        ServiceKey::UniqueName(name) => ("unique_name", name),
    };
    let sql =
        format!("SELECT {SERVICE_COLUMNS} FROM services WHERE account_sid = ? AND {column} = ?");
    sqlx::query_as(&sql)
        .bind(account_sid)
        .bind(value)
        .fetch_one(readers)
        .await
        .map_err(map_err)
}

pub async fn list_services(
    readers: &SqlitePool,
    account_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Service>> {
    list_page(
        readers,
        SERVICE_COLUMNS,
        "services",
        "account_sid",
        account_sid,
        page,
    )
    .await
}

pub async fn update_service(
    writer: &Writer,
    sid: &str,
    patch: &ServicePatch,
    now: i64,
) -> StoreResult<Service> {
    let (sid, patch) = (sid.to_owned(), patch.clone());
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE services SET friendly_name = COALESCE(?, friendly_name), \
                     include_credentials = COALESCE(?, include_credentials), \
                     ui_editable = COALESCE(?, ui_editable), date_updated = ? \
                     WHERE sid = ? RETURNING {SERVICE_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&patch.friendly_name)
                    .bind(patch.include_credentials)
                    .bind(patch.ui_editable)
                    .bind(now)
                    .bind(&sid)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn delete_service(writer: &Writer, sid: &str) -> StoreResult<()> {
    let sid = sid.to_owned();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let done = sqlx::query("DELETE FROM services WHERE sid = ?")
                    .bind(&sid)
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
        })
        .await
}
