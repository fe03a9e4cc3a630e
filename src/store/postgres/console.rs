//! What the browser console needs beyond the API's reads: its sessions, and every version of
//! a Service in one query.

use sqlx::postgres::PgPool;

use super::errors::map_err;
use super::listing::list_rows;
use crate::store::listing::Listing;
use crate::store::tables::{version_columns, version_table, BUILD_COLUMNS, SESSION_COLUMNS};
use crate::store::{Build, ConsoleSession, ContainerKind, Page, PageRequest, StoreResult, Version};

pub async fn create_console_session(
    pool: &PgPool,
    session: &ConsoleSession,
    now: i64,
) -> StoreResult<()> {
    // Expired rows go whenever someone signs in: no sweeper needed for a table that only
    // grows by sign-ins. Two statements, no transaction: each is right on its own.
    sqlx::query("DELETE FROM console_sessions WHERE expires <= $1")
        .bind(now)
        .execute(pool)
        .await
        .map_err(map_err)?;
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, account_sid, key_sid, csrf_token, \
         date_created, expires) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&session.id_hash)
    .bind(&session.account_sid)
    .bind(&session.key_sid)
    .bind(&session.csrf_token)
    .bind(session.date_created)
    .bind(session.expires)
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn console_session(
    pool: &PgPool,
    id_hash: &str,
    now: i64,
) -> StoreResult<Option<ConsoleSession>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM console_sessions WHERE id_hash = $1 AND expires > $2"
    );
    sqlx::query_as(&sql)
        .bind(id_hash)
        .bind(now)
        .fetch_optional(pool)
        .await
        .map_err(map_err)
}

pub async fn delete_console_session(pool: &PgPool, id_hash: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(pool)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn list_service_versions(
    pool: &PgPool,
    kind: ContainerKind,
    service_sid: &str,
    max: u32,
) -> StoreResult<Vec<Version>> {
    let (table, _) = version_table(kind);
    let sql = format!(
        "SELECT {} FROM {table} WHERE service_sid = $1 ORDER BY seq LIMIT $2",
        version_columns(kind)
    );
    sqlx::query_as(&sql)
        .bind(service_sid)
        .bind(i64::from(max))
        .fetch_all(pool)
        .await
        .map_err(map_err)
}

pub async fn list_build_rows(
    pool: &PgPool,
    service_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Build>> {
    let listing = Listing::scoped(BUILD_COLUMNS, "builds", "service_sid = ", service_sid);
    list_rows(pool, &listing, page).await
}
