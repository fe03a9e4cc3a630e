//! Builds with their version links, the builds-per-hour quota, and the precompressed copies
//! builds make of asset content.

use std::collections::HashSet;

use sqlx::postgres::{PgConnection, PgPool};

use super::errors::map_err;
use super::listing::{read_page, Listing};
use super::SNAPSHOT;
use crate::store::tables::{kind_name, version_columns, version_table, BUILD_COLUMNS};
use crate::store::{
    Build, BuildDetail, BuildQuota, BuildStatus, ContainerKind, Encoded, Page, PageRequest,
    StoreError, StoreResult, Version,
};

pub async fn create_build(
    pool: &PgPool,
    b: &Build,
    assets: &[String],
    functions: &[String],
    quota: BuildQuota,
) -> StoreResult<Build> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    // Every build creation of the account queues here, so that two cannot both count the
    // window below the quota and both insert (see `services::create_service` on the mode).
    sqlx::query("SELECT 1 FROM accounts WHERE sid = $1 FOR NO KEY UPDATE")
        .bind(&b.account_sid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    if quota.per_hour > 0 {
        let since = quota.now - 3600;
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(date_created) FROM build_creations \
             WHERE account_sid = $1 AND date_created > $2",
        )
        .bind(&b.account_sid)
        .bind(since)
        .fetch_one(&mut *tx)
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
    // The service before its versions, the order in which deleting the service locks them
    // too: taking them the other way round could deadlock with that deletion.
    let service: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM services WHERE sid = $1 FOR KEY SHARE")
            .bind(&b.service_sid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
    if service.is_none() {
        return Err(StoreError::NotFound);
    }
    lock_versions(&mut tx, ContainerKind::Asset, assets).await?;
    lock_versions(&mut tx, ContainerKind::Function, functions).await?;
    let sql = format!(
        "INSERT INTO builds (sid, account_sid, service_sid, status, runtime, dependencies, \
         failure, date_created, date_updated) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8) \
         RETURNING {BUILD_COLUMNS}"
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
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    sqlx::query("INSERT INTO build_creations (account_sid, date_created) VALUES ($1, $2)")
        .bind(&b.account_sid)
        .bind(b.date_created)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    for (kind, sids) in [
        (ContainerKind::Asset, assets),
        (ContainerKind::Function, functions),
    ] {
        if sids.is_empty() {
            continue;
        }
        // Positions count from 0 in request order.
        sqlx::query(
            "INSERT INTO build_versions (build_sid, kind, position, version_sid) \
             SELECT $1, $2, v.n - 1, v.sid FROM unnest($3::text[]) WITH ORDINALITY AS v (sid, n)",
        )
        .bind(&created.sid)
        .bind(kind_name(kind))
        .bind(sids)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    }
    tx.commit().await.map_err(map_err)?;
    Ok(created)
}

/// Locks the versions a new build includes against deletion until the build commits (see
/// `containers::delete_container`); `NotFound` when one is gone already.
async fn lock_versions(
    conn: &mut PgConnection,
    kind: ContainerKind,
    sids: &[String],
) -> StoreResult<()> {
    if sids.is_empty() {
        return Ok(());
    }
    let (table, _) = version_table(kind);
    let sql = format!("SELECT sid FROM {table} WHERE sid = ANY($1) FOR KEY SHARE");
    let locked: Vec<String> = sqlx::query_scalar(&sql)
        .bind(sids)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let wanted: HashSet<&str> = sids.iter().map(String::as_str).collect();
    if locked.len() != wanted.len() {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The versions of `kind` in build `build_sid`, in request order.
pub(super) async fn build_versions(
    conn: &mut PgConnection,
    kind: ContainerKind,
    build_sid: &str,
) -> StoreResult<Vec<Version>> {
    let (table, _) = version_table(kind);
    let columns = version_columns(kind);
    let sql = format!(
        "SELECT {columns} FROM build_versions \
         JOIN {table} ON {table}.sid = build_versions.version_sid \
         WHERE build_versions.build_sid = $1 AND build_versions.kind = $2 \
         ORDER BY build_versions.position"
    );
    sqlx::query_as(&sql)
        .bind(build_sid)
        .bind(kind_name(kind))
        .fetch_all(conn)
        .await
        .map_err(map_err)
}

async fn detail(conn: &mut PgConnection, build: Build) -> StoreResult<BuildDetail> {
    let assets = build_versions(conn, ContainerKind::Asset, &build.sid).await?;
    let functions = build_versions(conn, ContainerKind::Function, &build.sid).await?;
    Ok(BuildDetail {
        build,
        assets,
        functions,
    })
}

/// A build with its versions, read from one snapshot.
pub async fn build(pool: &PgPool, service_sid: &str, sid: &str) -> StoreResult<BuildDetail> {
    let mut tx = pool.begin_with(SNAPSHOT).await.map_err(map_err)?;
    let sql = format!("SELECT {BUILD_COLUMNS} FROM builds WHERE sid = $1 AND service_sid = $2");
    let build = sqlx::query_as(&sql)
        .bind(sid)
        .bind(service_sid)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    let detail = detail(&mut tx, build).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(detail)
}

/// A page of builds with their versions, read from one snapshot.
pub async fn list_builds(
    pool: &PgPool,
    service_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<BuildDetail>> {
    let mut tx = pool.begin_with(SNAPSHOT).await.map_err(map_err)?;
    let listing = Listing::scoped(BUILD_COLUMNS, "builds", "service_sid = ", service_sid);
    let builds: Page<Build> = read_page(&mut tx, &listing, page).await?;
    let mut items = Vec::with_capacity(builds.items.len());
    for build in builds.items {
        items.push(detail(&mut tx, build).await?);
    }
    tx.commit().await.map_err(map_err)?;
    Ok(Page {
        items,
        has_next: builds.has_next,
    })
}

/// Sets the final status of a build still `building`, and ends its claim.
pub async fn finish_build(
    pool: &PgPool,
    sid: &str,
    status: BuildStatus,
    failure: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE builds SET status = $1, failure = $2, date_updated = $3, \
         claimed_by = NULL, claim_until = NULL WHERE sid = $4 AND status = $5",
    )
    .bind(status)
    .bind(failure)
    .bind(now)
    .bind(sid)
    .bind(BuildStatus::Building)
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn delete_build(pool: &PgPool, service_sid: &str, sid: &str) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    // `create_deployment` holds FOR SHARE on the build it deploys until it commits, so once
    // this lock is granted any such deployment has committed and the check below (a fresh
    // snapshot at READ COMMITTED) sees its environment; a later one waits, then finds the
    // build gone.
    sqlx::query("SELECT 1 FROM builds WHERE sid = $1 FOR UPDATE")
        .bind(sid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    let live: Option<String> = sqlx::query_scalar(
        "SELECT sid FROM environments WHERE build_sid = $1 ORDER BY seq LIMIT 1",
    )
    .bind(sid)
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?;
    if let Some(environment) = live {
        return Err(StoreError::InUse(environment));
    }
    let done = sqlx::query("DELETE FROM builds WHERE sid = $1 AND service_sid = $2")
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

pub async fn record_encoding(pool: &PgPool, e: &Encoded) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO encodings (sha256, encoding, size) VALUES ($1, $2, $3) \
         ON CONFLICT (sha256, encoding) DO UPDATE SET size = EXCLUDED.size",
    )
    .bind(&e.sha256)
    .bind(&e.encoding)
    .bind(e.size)
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn encodings(pool: &PgPool, sha256: &str) -> StoreResult<Vec<Encoded>> {
    sqlx::query_as(
        "SELECT sha256, encoding, size FROM encodings WHERE sha256 = $1 ORDER BY encoding",
    )
    .bind(sha256)
    .fetch_all(pool)
    .await
    .map_err(map_err)
}
