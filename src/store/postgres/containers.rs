//! Assets and Functions, and their Versions.

use sqlx::postgres::PgPool;

use super::errors::map_err;
use super::listing::{fetch_row, list_rows, Listing};
use crate::store::tables::{container_table, version_columns, version_table, CONTAINER_COLUMNS};
use crate::store::{Container, ContainerKind, Page, PageRequest, StoreError, StoreResult, Version};

pub async fn create_container(
    pool: &PgPool,
    kind: ContainerKind,
    container: &Container,
) -> StoreResult<Container> {
    let sql = format!(
        "INSERT INTO {} (sid, account_sid, service_sid, friendly_name, date_created, \
         date_updated) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {CONTAINER_COLUMNS}",
        container_table(kind)
    );
    sqlx::query_as(&sql)
        .bind(&container.sid)
        .bind(&container.account_sid)
        .bind(&container.service_sid)
        .bind(&container.friendly_name)
        .bind(container.date_created)
        .bind(container.date_updated)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

pub async fn container(
    pool: &PgPool,
    kind: ContainerKind,
    service_sid: &str,
    sid: &str,
) -> StoreResult<Container> {
    let from = (CONTAINER_COLUMNS, container_table(kind));
    fetch_row(pool, from, "service_sid", service_sid, sid).await
}

pub async fn list_containers(
    pool: &PgPool,
    kind: ContainerKind,
    service_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Container>> {
    let table = container_table(kind);
    let listing = Listing::scoped(CONTAINER_COLUMNS, table, "service_sid = ", service_sid);
    list_rows(pool, &listing, page).await
}

pub async fn rename_container(
    pool: &PgPool,
    kind: ContainerKind,
    (service_sid, sid): (&str, &str),
    friendly_name: &str,
    now: i64,
) -> StoreResult<Container> {
    let sql = format!(
        "UPDATE {} SET friendly_name = $1, date_updated = $2 \
         WHERE sid = $3 AND service_sid = $4 RETURNING {CONTAINER_COLUMNS}",
        container_table(kind)
    );
    sqlx::query_as(&sql)
        .bind(friendly_name)
        .bind(now)
        .bind(sid)
        .bind(service_sid)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

/// Deletes an Asset or Function with its versions; `InUse(build sid)` while a build includes
/// one of them.
pub async fn delete_container(
    pool: &PgPool,
    kind: ContainerKind,
    service_sid: &str,
    sid: &str,
) -> StoreResult<()> {
    let (versions, parent) = version_table(kind);
    let mut tx = pool.begin().await.map_err(map_err)?;
    // The in-use check below must see every build that will ever include these versions:
    // - locking the container first makes a concurrent new version (whose foreign-key check
    //   takes FOR KEY SHARE on this row) either commit before we lock its siblings or fail
    //   after our delete;
    // - `create_build` locks the versions it includes (FOR KEY SHARE), so a build either
    //   commits before our lock is granted, and the check (a fresh snapshot at READ
    //   COMMITTED) sees it, or waits for us and then finds its versions gone.
    let lock = format!(
        "SELECT 1 FROM {} WHERE sid = $1 FOR UPDATE",
        container_table(kind)
    );
    sqlx::query(&lock)
        .bind(sid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    let lock = format!("SELECT 1 FROM {versions} WHERE {parent} = $1 FOR UPDATE");
    sqlx::query(&lock)
        .bind(sid)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
    let using = format!(
        "SELECT build_versions.build_sid FROM build_versions JOIN {versions} \
         ON {versions}.sid = build_versions.version_sid WHERE {versions}.{parent} = $1 LIMIT 1"
    );
    let build: Option<String> = sqlx::query_scalar(&using)
        .bind(sid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    if let Some(build) = build {
        return Err(StoreError::InUse(build));
    }
    let sql = format!(
        "DELETE FROM {} WHERE sid = $1 AND service_sid = $2",
        container_table(kind)
    );
    let done = sqlx::query(&sql)
        .bind(sid)
        .bind(service_sid)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    tx.commit().await.map_err(map_err)
}

pub async fn create_version(
    pool: &PgPool,
    kind: ContainerKind,
    version: &Version,
) -> StoreResult<Version> {
    let (table, parent) = version_table(kind);
    let sql = format!(
        "INSERT INTO {table} (sid, account_sid, service_sid, {parent}, path, visibility, \
         content_type, size, sha256, date_created) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {}",
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
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

pub async fn version(
    pool: &PgPool,
    kind: ContainerKind,
    container_sid: &str,
    sid: &str,
) -> StoreResult<Version> {
    let (table, parent) = version_table(kind);
    let columns = version_columns(kind);
    fetch_row(pool, (&columns, table), parent, container_sid, sid).await
}

pub async fn list_versions(
    pool: &PgPool,
    kind: ContainerKind,
    container_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Version>> {
    let (table, _) = version_table(kind);
    let columns = version_columns(kind);
    // The parent column of `version_table`, as a condition.
    let condition = match kind {
        ContainerKind::Asset => "asset_sid = ",
        ContainerKind::Function => "function_sid = ",
    };
    let listing = Listing::scoped(&columns, table, condition, container_sid);
    list_rows(pool, &listing, page).await
}

pub async fn referenced_blobs(pool: &PgPool) -> StoreResult<Vec<String>> {
    sqlx::query_scalar(
        "SELECT sha256 FROM asset_versions UNION SELECT sha256 FROM function_versions",
    )
    .fetch_all(pool)
    .await
    .map_err(map_err)
}

pub async fn versions_by_sid(
    pool: &PgPool,
    kind: ContainerKind,
    service_sid: &str,
    sids: &[String],
) -> StoreResult<Vec<Version>> {
    let (table, _) = version_table(kind);
    let sql = format!(
        "SELECT {} FROM {table} WHERE service_sid = $1 AND sid = ANY($2) ORDER BY seq",
        version_columns(kind)
    );
    sqlx::query_as(&sql)
        .bind(service_sid)
        .bind(sids)
        .fetch_all(pool)
        .await
        .map_err(map_err)
}
