//! Accounts and Services.

use sqlx::postgres::PgPool;

use super::errors::map_err;
use super::listing::{list_rows, Listing};
use crate::store::tables::SERVICE_COLUMNS;
use crate::store::{
    Account, Page, PageRequest, Service, ServiceKey, ServicePatch, StoreError, StoreResult,
};

pub async fn upsert_account(pool: &PgPool, account: &Account) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO accounts (sid, auth_token, date_created, date_updated) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (sid) DO UPDATE SET auth_token = EXCLUDED.auth_token",
    )
    .bind(&account.sid)
    .bind(&account.auth_token)
    .bind(crate::clock::now())
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn account(pool: &PgPool, sid: &str) -> StoreResult<Option<Account>> {
    sqlx::query_as("SELECT sid, auth_token FROM accounts WHERE sid = $1")
        .bind(sid)
        .fetch_optional(pool)
        .await
        .map_err(map_err)
}

pub async fn first_account(pool: &PgPool) -> StoreResult<Option<Account>> {
    sqlx::query_as(
        "SELECT sid, auth_token FROM accounts WHERE owner_account_sid IS NULL \
         ORDER BY seq LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .map_err(map_err)
}

pub async fn list_accounts(pool: &PgPool) -> StoreResult<Vec<Account>> {
    sqlx::query_as("SELECT sid, auth_token FROM accounts ORDER BY seq")
        .fetch_all(pool)
        .await
        .map_err(map_err)
}

pub async fn create_service(
    pool: &PgPool,
    service: &Service,
    max_services: u32,
) -> StoreResult<Service> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    // Every creation of a service in the account queues here, so that no two count the same
    // services and both insert one past the limit. FOR NO KEY UPDATE conflicts with itself
    // but not with the FOR KEY SHARE that foreign-key checks take, which FOR UPDATE would.
    // No row (an unknown account) is no lock, and the insert then fails its foreign key.
    sqlx::query("SELECT 1 FROM accounts WHERE sid = $1 FOR NO KEY UPDATE")
        .bind(&service.account_sid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    if max_services > 0 {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM services WHERE account_sid = $1")
            .bind(&service.account_sid)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        if count >= i64::from(max_services) {
            return Err(StoreError::LimitReached);
        }
    }
    let sql = format!(
        "INSERT INTO services (sid, account_sid, friendly_name, unique_name, \
         include_credentials, ui_editable, domain_base, date_created, date_updated) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {SERVICE_COLUMNS}"
    );
    let created = sqlx::query_as(&sql)
        .bind(&service.sid)
        .bind(&service.account_sid)
        .bind(&service.friendly_name)
        .bind(&service.unique_name)
        .bind(service.include_credentials)
        .bind(service.ui_editable)
        .bind(&service.domain_base)
        .bind(service.date_created)
        .bind(service.date_updated)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(created)
}

pub async fn service(
    pool: &PgPool,
    account_sid: &str,
    key: ServiceKey<'_>,
) -> StoreResult<Service> {
    let (column, value) = match key {
        ServiceKey::Sid(sid) => ("sid", sid),
        ServiceKey::UniqueName(name) => ("unique_name", name),
    };
    let sql =
        format!("SELECT {SERVICE_COLUMNS} FROM services WHERE account_sid = $1 AND {column} = $2");
    sqlx::query_as(&sql)
        .bind(account_sid)
        .bind(value)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

pub async fn list_services(
    pool: &PgPool,
    account_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Service>> {
    let listing = Listing::scoped(SERVICE_COLUMNS, "services", "account_sid = ", account_sid);
    list_rows(pool, &listing, page).await
}

pub async fn update_service(
    pool: &PgPool,
    sid: &str,
    patch: &ServicePatch,
    now: i64,
) -> StoreResult<Service> {
    let sql = format!(
        "UPDATE services SET friendly_name = COALESCE($1, friendly_name), \
         include_credentials = COALESCE($2, include_credentials), \
         ui_editable = COALESCE($3, ui_editable), date_updated = $4 \
         WHERE sid = $5 RETURNING {SERVICE_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(&patch.friendly_name)
        .bind(patch.include_credentials)
        .bind(patch.ui_editable)
        .bind(now)
        .bind(sid)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

/// Deletes the service; its rows below go by `ON DELETE CASCADE`, its environments' site
/// changes announced by their row trigger.
pub async fn delete_service(pool: &PgPool, sid: &str) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM services WHERE sid = $1")
        .bind(sid)
        .execute(pool)
        .await
        .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
