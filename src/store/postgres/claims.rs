//! Coordination kept in the database: build claims, named leases, and the holds and marks
//! that keep garbage collection from deleting content an upload is about to reference.
//!
//! Several nodes run these at once, so each takes the row or advisory locks it needs.

use sqlx::postgres::PgPool;

use super::errors::map_err;
use crate::store::tables::BUILD_COLUMNS;
use crate::store::{Build, BuildStatus, StoreResult};

/// Claims the oldest unclaimed (or lapsed) `building` build. SKIP LOCKED lets builders on
/// several nodes each take a different build at once instead of queueing on the same row;
/// the row lock is re-checked on the newest row version, so a build just claimed or finished
/// by another node is skipped.
pub async fn claim_build(
    pool: &PgPool,
    holder: &str,
    now: i64,
    until: i64,
) -> StoreResult<Option<Build>> {
    let sql = format!(
        "UPDATE builds SET claimed_by = $1, claim_until = $2 WHERE seq = \
         (SELECT seq FROM builds WHERE status = 'building' \
          AND (claim_until IS NULL OR claim_until < $3) \
          ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING {BUILD_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(holder)
        .bind(until)
        .bind(now)
        .fetch_optional(pool)
        .await
        .map_err(map_err)
}

pub async fn renew_build_claim(
    pool: &PgPool,
    sid: &str,
    holder: &str,
    until: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE builds SET claim_until = $1 WHERE sid = $2 AND claimed_by = $3 AND status = $4",
    )
    .bind(until)
    .bind(sid)
    .bind(holder)
    .bind(BuildStatus::Building)
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() == 1)
}

/// One statement: concurrent takers of a new lease meet in ON CONFLICT, and the WHERE of the
/// update is evaluated on the row locked, so exactly one of them gets it.
pub async fn take_lease(
    pool: &PgPool,
    name: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = $2, until = $3 \
         WHERE leases.holder = $2 OR leases.until < $4",
    )
    .bind(name)
    .bind(holder)
    .bind(until)
    .bind(now)
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() == 1)
}

/// Serialises [`hold_blob`] and [`doom_blobs`] per hash until the transaction ends: without it
/// a hold could commit after a collector's check and before its mark, and both would succeed.
/// Advisory keys are 64-bit, so two hashes may share a key; that only makes them wait for
/// each other.
const LOCK_HASH: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";

pub async fn hold_blob(pool: &PgPool, sha256: &str, holder: &str, until: i64) -> StoreResult<bool> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    sqlx::query(LOCK_HASH)
        .bind(sha256)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let doomed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM blob_doomed WHERE sha256 = $1)")
            .bind(sha256)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
    if doomed {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO blob_holds (sha256, holder, until) VALUES ($1, $2, $3) \
         ON CONFLICT (sha256, holder) DO UPDATE SET until = EXCLUDED.until",
    )
    .bind(sha256)
    .bind(holder)
    .bind(until)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(true)
}

pub async fn release_blob(pool: &PgPool, sha256: &str, holder: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM blob_holds WHERE sha256 = $1 AND holder = $2")
        .bind(sha256)
        .bind(holder)
        .execute(pool)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Candidates per transaction, so that one collection never holds many hash locks for long.
const DOOM_BATCH: usize = 200;

/// Marks the unreferenced, unheld candidates for deletion and forgets their copies; returns
/// them in candidate order.
pub async fn doom_blobs(
    pool: &PgPool,
    candidates: &[String],
    now: i64,
) -> StoreResult<Vec<String>> {
    let mut doomed = Vec::new();
    for chunk in candidates.chunks(DOOM_BATCH) {
        let mut tx = pool.begin().await.map_err(map_err)?;
        // Every hash of the batch locked before any is checked, in sorted order so that two
        // collectors (a lease that lapsed mid-run) cannot deadlock; OFFSET 0 keeps the planner
        // from calling the lock function before the sort.
        sqlx::query(
            "SELECT COUNT(pg_advisory_xact_lock(hashtextextended(h, 0))) \
             FROM (SELECT DISTINCT h FROM unnest($1::text[]) AS c (h) ORDER BY h OFFSET 0) AS s",
        )
        .bind(chunk)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        // With the locks held, holds committed before are visible to this statement's
        // snapshot, and holds not yet made will see the marks.
        let marked: Vec<String> = sqlx::query_scalar(
            "SELECT c.h FROM unnest($1::text[]) WITH ORDINALITY AS c (h, n) \
             WHERE NOT EXISTS (SELECT 1 FROM asset_versions WHERE sha256 = c.h) \
             AND NOT EXISTS (SELECT 1 FROM function_versions WHERE sha256 = c.h) \
             AND NOT EXISTS (SELECT 1 FROM blob_holds WHERE sha256 = c.h AND until >= $2) \
             ORDER BY c.n",
        )
        .bind(chunk)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        if !marked.is_empty() {
            sqlx::query(
                "INSERT INTO blob_doomed (sha256, since) \
                 SELECT DISTINCT h, $2::bigint FROM unnest($1::text[]) AS m (h) \
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(&marked)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query("DELETE FROM encodings WHERE sha256 = ANY($1)")
                .bind(&marked)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        doomed.extend(marked);
    }
    Ok(doomed)
}

pub async fn doomed_blobs(pool: &PgPool) -> StoreResult<Vec<String>> {
    sqlx::query_scalar("SELECT sha256 FROM blob_doomed ORDER BY since, sha256")
        .fetch_all(pool)
        .await
        .map_err(map_err)
}

pub async fn clear_doomed(pool: &PgPool, sha256s: &[String]) -> StoreResult<()> {
    sqlx::query("DELETE FROM blob_doomed WHERE sha256 = ANY($1)")
        .bind(sha256s)
        .execute(pool)
        .await
        .map_err(map_err)?;
    Ok(())
}
