//! Assets and Functions, and their Versions.

use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite};

use super::errors::map_err;
use super::listing::{fetch_row, list_page};
use super::writer::Writer;
use crate::store::paging::{Page, PageRequest};
use crate::store::tables::*;
use crate::store::{Container, ContainerKind, StoreError, StoreResult, Version};

pub async fn create_container(
    writer: &Writer,
    kind: ContainerKind,
    container: &Container,
) -> StoreResult<Container> {
    let container = container.clone();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "INSERT INTO {} (sid, account_sid, service_sid, friendly_name, \
                     date_created, date_updated) VALUES (?, ?, ?, ?, ?, ?) \
                     RETURNING {CONTAINER_COLUMNS}",
                    container_table(kind)
                );
                sqlx::query_as(&sql)
                    .bind(&container.sid)
                    .bind(&container.account_sid)
                    .bind(&container.service_sid)
                    .bind(&container.friendly_name)
                    .bind(container.date_created)
                    .bind(container.date_updated)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn container(
    readers: &SqlitePool,
    kind: ContainerKind,
    service_sid: &str,
    sid: &str,
) -> StoreResult<Container> {
    let from = (CONTAINER_COLUMNS, container_table(kind));
    fetch_row(readers, from, "service_sid", service_sid, sid).await
}

pub async fn list_containers(
    readers: &SqlitePool,
    kind: ContainerKind,
    service_sid: &str,
    page: PageRequest,
) -> StoreResult<std::sync::Arc<Page<Container>>> {
    let table = container_table(kind);
    list_page(
        readers,
        CONTAINER_COLUMNS,
        table,
        "service_sid",
        service_sid,
        page,
    )
    .await
    .map(std::sync::Arc::new)
}

pub async fn rename_container(
    writer: &Writer,
    kind: ContainerKind,
    service_sid: &str,
    sid: &str,
    friendly_name: &str,
    now: i64,
) -> StoreResult<Container> {
    let (service_sid, sid) = (service_sid.to_owned(), sid.to_owned());
    let friendly_name = friendly_name.to_owned();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE {} SET friendly_name = ?, date_updated = ? \
                     WHERE sid = ? AND service_sid = ? RETURNING {CONTAINER_COLUMNS}",
                    container_table(kind)
                );
                sqlx::query_as(&sql)
                    .bind(&friendly_name)
                    .bind(now)
                    .bind(&sid)
                    .bind(&service_sid)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn delete_container(
    writer: &Writer,
    kind: ContainerKind,
    service_sid: &str,
    sid: &str,
) -> StoreResult<()> {
    let (service_sid, sid) = (service_sid.to_owned(), sid.to_owned());
    writer
        .write(move |conn| {
            Box::pin(async move {
                if let Some(build) = super::builds::build_using(&mut *conn, kind, &sid).await? {
                    return Err(StoreError::InUse(build));
                }
                let sql = format!(
                    "DELETE FROM {} WHERE sid = ? AND service_sid = ?",
                    container_table(kind)
                );
                let done = sqlx::query(&sql)
                    .bind(&sid)
                    .bind(&service_sid)
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

pub async fn create_version(
    writer: &Writer,
    kind: ContainerKind,
    version: &Version,
) -> StoreResult<Version> {
    let version = version.clone();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let (table, parent) = version_table(kind);
                let sql = format!(
                    "INSERT INTO {table} (sid, account_sid, service_sid, {parent}, path, \
                     visibility, content_type, size, sha256, date_created) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {}",
                    version_columns(kind)
                );
                sqlx::query_as(&sql)
                    .bind(&version.sid)
                    .bind(&version.account_sid)
                    .bind(&version.service_sid)
                    .bind(&version.container_sid)
                    .bind(&version.path)
                    .bind(version.visibility)
                    .bind(&version.content_type)
                    .bind(version.size)
                    .bind(&version.sha256)
                    .bind(version.date_created)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn version(
    readers: &SqlitePool,
    kind: ContainerKind,
    container_sid: &str,
    sid: &str,
) -> StoreResult<Version> {
    let (table, parent) = version_table(kind);
    let columns = version_columns(kind);
    fetch_row(readers, (&columns, table), parent, container_sid, sid).await
}

pub async fn list_versions(
    readers: &SqlitePool,
    kind: ContainerKind,
    container_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Version>> {
    let (table, parent) = version_table(kind);
    let columns = version_columns(kind);
    list_page(readers, &columns, table, parent, container_sid, page).await
}

pub async fn referenced_blobs(readers: &SqlitePool) -> StoreResult<Vec<String>> {
    sqlx::query_scalar(
        "SELECT sha256 FROM asset_versions UNION SELECT sha256 FROM function_versions",
    )
    .fetch_all(readers)
    .await
    .map_err(map_err)
}

pub async fn versions_by_sid(
    pool: &SqlitePool,
    kind: ContainerKind,
    service_sid: &str,
    sids: &[String],
) -> StoreResult<Vec<Version>> {
    let (table, _) = version_table(kind);
    let columns = version_columns(kind);
    let mut found = Vec::with_capacity(sids.len());
    for chunk in sids.chunks(500) {
        let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {columns} FROM {table} WHERE service_sid = "
        ));
        query.push_bind(service_sid).push(" AND sid IN (");
        let mut list = query.separated(", ");
        for sid in chunk {
            list.push_bind(sid.as_str());
        }
        query.push(")");
        let rows: Vec<Version> = query
            .build_query_as()
            .fetch_all(pool)
            .await
            .map_err(map_err)?;
        found.extend(rows);
    }
    Ok(found)
}
