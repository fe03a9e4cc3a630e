//! What the browser console needs beyond the API's reads: its sessions, and every version of
//! a Service in one query.

use sqlx::sqlite::SqlitePool;

use super::errors::map_err;
use super::listing::list_rows;
use super::writer::Writer;
use crate::store::listing::Listing;
use crate::store::tables::{version_columns, version_table, BUILD_COLUMNS, SESSION_COLUMNS};
use crate::store::{Build, ConsoleSession, ContainerKind, Page, PageRequest, StoreResult, Version};

pub async fn create_console_session(
    writer: &Writer,
    session: &ConsoleSession,
    now: i64,
) -> StoreResult<()> {
    let session = session.clone();
    writer
        .write(move |conn| {
            Box::pin(async move {
                // Expired rows go whenever someone signs in: no sweeper needed for a table
                // that only grows by sign-ins.
                sqlx::query("DELETE FROM console_sessions WHERE expires <= ?")
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                sqlx::query(
                    "INSERT INTO console_sessions (id_hash, account_sid, key_sid, csrf_token, \
                     date_created, expires) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(&session.id_hash)
                .bind(&session.account_sid)
                .bind(&session.key_sid)
                .bind(&session.csrf_token)
                .bind(session.date_created)
                .bind(session.expires)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
                Ok(())
            })
        })
        .await
}

pub async fn console_session(
    readers: &SqlitePool,
    id_hash: &str,
    now: i64,
) -> StoreResult<Option<ConsoleSession>> {
    let sql =
        format!("SELECT {SESSION_COLUMNS} FROM console_sessions WHERE id_hash = ? AND expires > ?");
    sqlx::query_as(&sql)
        .bind(id_hash)
        .bind(now)
        .fetch_optional(readers)
        .await
        .map_err(map_err)
}

pub async fn delete_console_session(writer: &Writer, id_hash: &str) -> StoreResult<()> {
    let id_hash = id_hash.to_owned();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM console_sessions WHERE id_hash = ?")
                    .bind(&id_hash)
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                Ok(())
            })
        })
        .await
}

pub async fn list_service_versions(
    readers: &SqlitePool,
    kind: ContainerKind,
    service_sid: &str,
    max: u32,
) -> StoreResult<Vec<Version>> {
    let (table, _) = version_table(kind);
    let sql = format!(
        "SELECT {} FROM {table} WHERE service_sid = ? ORDER BY seq LIMIT ?",
        version_columns(kind)
    );
    sqlx::query_as(&sql)
        .bind(service_sid)
        .bind(i64::from(max))
        .fetch_all(readers)
        .await
        .map_err(map_err)
}

pub async fn list_build_rows(
    readers: &SqlitePool,
    service_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Build>> {
    let listing = Listing::scoped(BUILD_COLUMNS, "builds", "service_sid = ", service_sid);
    list_rows(readers, &listing, page).await
}
