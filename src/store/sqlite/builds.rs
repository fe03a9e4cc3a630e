//! Builds, their version links, and the precompressed copies the builder records.

use sqlx::sqlite::SqlitePool;

use super::errors::map_err;
use super::listing::{fetch_row, list_rows, Arg, Listing};
use super::writer::Writer;
use crate::store::paging::{Page, PageRequest};
use crate::store::tables::*;
use crate::store::{
    Build, BuildDetail, BuildQuota, BuildStatus, ContainerKind, Encoded, StoreError, StoreResult,
    Version,
};

pub async fn create_build(
    writer: &Writer,
    build: &Build,
    assets: &[String],
    functions: &[String],
    quota: BuildQuota,
) -> StoreResult<Build> {
    let (b, assets, functions) = (build.clone(), assets.to_vec(), functions.to_vec());
    writer
        .write(move |conn| {
            Box::pin(async move {
                if quota.per_hour > 0 {
                    let since = quota.now - 3600;
                    let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
                        "SELECT COUNT(*), MIN(date_created) FROM build_creations \
                         WHERE account_sid = ? AND date_created > ?",
                    )
                    .bind(&b.account_sid)
                    .bind(since)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    if count >= i64::from(quota.per_hour) {
                        let frees_at = oldest.unwrap_or(quota.now) + 3600;
                        let wait = u64::try_from(frees_at - quota.now).unwrap_or(1).max(1);
                        return Err(StoreError::RateLimited {
                            retry_after_secs: wait,
                        });
                    }
                }
                let sql = format!(
                    "INSERT INTO builds (sid, account_sid, service_sid, status, runtime, \
                     dependencies, failure, date_created, date_updated) \
                     VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?) RETURNING {BUILD_COLUMNS}"
                );
                let created: Build = sqlx::query_as(&sql)
                    .bind(&b.sid)
                    .bind(&b.account_sid)
                    .bind(&b.service_sid)
                    .bind(b.status)
                    .bind(&b.runtime)
                    .bind(&b.dependencies)
                    .bind(b.date_created)
                    .bind(b.date_updated)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(map_err)?;
                sqlx::query(
                    "INSERT INTO build_creations (account_sid, date_created) VALUES (?, ?)",
                )
                .bind(&b.account_sid)
                .bind(b.date_created)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
                for (kind, sids) in [
                    (ContainerKind::Asset, &assets),
                    (ContainerKind::Function, &functions),
                ] {
                    for (position, sid) in sids.iter().enumerate() {
                        sqlx::query(
                            "INSERT INTO build_versions (build_sid, kind, position, version_sid) \
                             VALUES (?, ?, ?, ?)",
                        )
                        .bind(&created.sid)
                        .bind(kind_name(kind))
                        .bind(i64::try_from(position).unwrap_or(i64::MAX))
                        .bind(sid)
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    }
                }
                Ok(created)
            })
        })
        .await
}

/// The versions of `kind` in build `build_sid`, in request order.
pub async fn build_versions(
    pool: &SqlitePool,
    kind: ContainerKind,
    build_sid: &str,
) -> StoreResult<Vec<Version>> {
    let (table, _) = version_table(kind);
    let columns = version_columns(kind);
    let sql = format!(
        "SELECT {columns} FROM build_versions JOIN {table} ON {table}.sid = build_versions.version_sid \
         WHERE build_versions.build_sid = ? AND build_versions.kind = ? ORDER BY build_versions.position"
    );
    sqlx::query_as(&sql)
        .bind(build_sid)
        .bind(kind_name(kind))
        .fetch_all(pool)
        .await
        .map_err(map_err)
}

pub async fn detail(pool: &SqlitePool, build: Build) -> StoreResult<BuildDetail> {
    let assets = build_versions(pool, ContainerKind::Asset, &build.sid).await?;
    let functions = build_versions(pool, ContainerKind::Function, &build.sid).await?;
    Ok(BuildDetail {
        build,
        assets,
        functions,
    })
}

pub async fn build(pool: &SqlitePool, service_sid: &str, sid: &str) -> StoreResult<BuildDetail> {
    let build = fetch_row(
        pool,
        (BUILD_COLUMNS, "builds"),
        "service_sid",
        service_sid,
        sid,
    )
    .await?;
    detail(pool, build).await
}

pub async fn list_builds(
    pool: &SqlitePool,
    service_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<BuildDetail>> {
    let listing = Listing {
        columns: BUILD_COLUMNS,
        table: "builds",
        conditions: vec![("service_sid = ", Arg::Text(service_sid))],
        descending: false,
    };
    let builds: Page<Build> = list_rows(pool, &listing, page).await?;
    let mut items = Vec::with_capacity(builds.items.len());
    for build in builds.items {
        items.push(detail(pool, build).await?);
    }
    Ok(Page {
        items,
        has_next: builds.has_next,
    })
}

pub async fn finish_build(
    writer: &Writer,
    sid: &str,
    status: BuildStatus,
    failure: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    let (sid, failure) = (sid.to_owned(), failure.map(str::to_owned));
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE builds SET status = ?, failure = ?, date_updated = ?, \
                     claimed_by = NULL, claim_until = NULL WHERE sid = ? AND status = ?",
                )
                .bind(status)
                .bind(&failure)
                .bind(now)
                .bind(&sid)
                .bind(BuildStatus::Building)
                .execute(conn)
                .await
                .map_err(map_err)?;
                Ok(())
            })
        })
        .await
}

pub async fn delete_build(writer: &Writer, service_sid: &str, sid: &str) -> StoreResult<()> {
    let (service_sid, sid) = (service_sid.to_owned(), sid.to_owned());
    writer
        .write(move |conn| {
            Box::pin(async move {
                let live: Option<String> =
                    sqlx::query_scalar("SELECT sid FROM environments WHERE build_sid = ? LIMIT 1")
                        .bind(&sid)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(map_err)?;
                if let Some(environment) = live {
                    return Err(StoreError::InUse(environment));
                }
                let done = sqlx::query("DELETE FROM builds WHERE sid = ? AND service_sid = ?")
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

/// The first build that includes a version of the Asset or Function `container_sid`.
pub async fn build_using(
    conn: &mut sqlx::SqliteConnection,
    kind: ContainerKind,
    container_sid: &str,
) -> StoreResult<Option<String>> {
    let (table, parent) = version_table(kind);
    let sql = format!(
        "SELECT build_versions.build_sid FROM build_versions JOIN {table} \
         ON {table}.sid = build_versions.version_sid WHERE {table}.{parent} = ? LIMIT 1"
    );
    sqlx::query_scalar(&sql)
        .bind(container_sid)
        .fetch_optional(conn)
        .await
        .map_err(map_err)
}

pub async fn record_encoding(writer: &Writer, encoded: &Encoded) -> StoreResult<()> {
    let e = encoded.clone();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO encodings (sha256, encoding, size) VALUES (?, ?, ?) \
                     ON CONFLICT (sha256, encoding) DO UPDATE SET size = excluded.size",
                )
                .bind(&e.sha256)
                .bind(&e.encoding)
                .bind(e.size)
                .execute(conn)
                .await
                .map_err(map_err)?;
                Ok(())
            })
        })
        .await
}

pub async fn encodings(pool: &SqlitePool, sha256: &str) -> StoreResult<Vec<Encoded>> {
    sqlx::query_as("SELECT sha256, encoding, size FROM encodings WHERE sha256 = ?")
        .bind(sha256)
        .fetch_all(pool)
        .await
        .map_err(map_err)
}
