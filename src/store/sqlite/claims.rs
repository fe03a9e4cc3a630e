//! Coordination kept in the database: build claims, named leases, and the holds and marks
//! that keep garbage collection from deleting content an upload is about to reference.
//!
//! One writing connection runs every write in turn, so each of these is atomic here without
//! row locks; the PostgreSQL backend takes the locks it needs.

use sqlx::QueryBuilder;

use super::errors::map_err;
use super::writer::Writer;
use crate::store::tables::BUILD_COLUMNS;
use crate::store::{Build, BuildStatus, StoreResult};

pub async fn claim_build(
    writer: &Writer,
    holder: &str,
    now: i64,
    until: i64,
) -> StoreResult<Option<Build>> {
    let holder = holder.to_owned();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE builds SET claimed_by = ?, claim_until = ? WHERE seq = \
                     (SELECT seq FROM builds WHERE status = 'building' \
                      AND (claim_until IS NULL OR claim_until < ?) ORDER BY seq LIMIT 1) \
                     RETURNING {BUILD_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&holder)
                    .bind(until)
                    .bind(now)
                    .fetch_optional(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn renew_build_claim(
    writer: &Writer,
    sid: &str,
    holder: &str,
    until: i64,
) -> StoreResult<bool> {
    let (sid, holder) = (sid.to_owned(), holder.to_owned());
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE builds SET claim_until = ? \
                     WHERE sid = ? AND claimed_by = ? AND status = ?",
                )
                .bind(until)
                .bind(&sid)
                .bind(&holder)
                .bind(BuildStatus::Building)
                .execute(conn)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
}

pub async fn take_lease(
    writer: &Writer,
    name: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> StoreResult<bool> {
    let (name, holder) = (name.to_owned(), holder.to_owned());
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (name) DO UPDATE SET holder = ?2, until = ?3 \
                     WHERE leases.holder = ?2 OR leases.until < ?4",
                )
                .bind(&name)
                .bind(&holder)
                .bind(until)
                .bind(now)
                .execute(conn)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
}

pub async fn hold_blob(
    writer: &Writer,
    sha256: &str,
    holder: &str,
    until: i64,
) -> StoreResult<bool> {
    let (sha256, holder) = (sha256.to_owned(), holder.to_owned());
    writer
        .write(move |conn| {
            Box::pin(async move {
                let doomed: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM blob_doomed WHERE sha256 = ?)",
                )
                .bind(&sha256)
                .fetch_one(&mut *conn)
                .await
                .map_err(map_err)?;
                if doomed {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO blob_holds (sha256, holder, until) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (sha256, holder) DO UPDATE SET until = ?3",
                )
                .bind(&sha256)
                .bind(&holder)
                .bind(until)
                .execute(conn)
                .await
                .map_err(map_err)?;
                Ok(true)
            })
        })
        .await
}

pub async fn release_blob(writer: &Writer, sha256: &str, holder: &str) -> StoreResult<()> {
    let (sha256, holder) = (sha256.to_owned(), holder.to_owned());
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM blob_holds WHERE sha256 = ? AND holder = ?")
                    .bind(&sha256)
                    .bind(&holder)
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                Ok(())
            })
        })
        .await
}

/// Candidates per write, so that one collection never holds the writer for long.
const DOOM_BATCH: usize = 200;

pub async fn doom_blobs(
    writer: &Writer,
    candidates: &[String],
    now: i64,
) -> StoreResult<Vec<String>> {
    let mut doomed = Vec::new();
    for chunk in candidates.chunks(DOOM_BATCH) {
        let chunk = chunk.to_vec();
        let marked: Vec<String> = writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut marked = Vec::new();
                    for sha256 in chunk {
                        let kept: bool = sqlx::query_scalar(
                            "SELECT EXISTS (SELECT 1 FROM asset_versions WHERE sha256 = ?1) \
                             OR EXISTS (SELECT 1 FROM function_versions WHERE sha256 = ?1) \
                             OR EXISTS (SELECT 1 FROM blob_holds \
                                        WHERE sha256 = ?1 AND until >= ?2)",
                        )
                        .bind(&sha256)
                        .bind(now)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(map_err)?;
                        if kept {
                            continue;
                        }
                        sqlx::query(
                            "INSERT INTO blob_doomed (sha256, since) VALUES (?, ?) \
                             ON CONFLICT (sha256) DO NOTHING",
                        )
                        .bind(&sha256)
                        .bind(now)
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                        sqlx::query("DELETE FROM encodings WHERE sha256 = ?")
                            .bind(&sha256)
                            .execute(&mut *conn)
                            .await
                            .map_err(map_err)?;
                        marked.push(sha256);
                    }
                    Ok(marked)
                })
            })
            .await?;
        doomed.extend(marked);
    }
    Ok(doomed)
}

pub async fn doomed_blobs(pool: &sqlx::SqlitePool) -> StoreResult<Vec<String>> {
    sqlx::query_scalar("SELECT sha256 FROM blob_doomed ORDER BY since, sha256")
        .fetch_all(pool)
        .await
        .map_err(map_err)
}

pub async fn clear_doomed(writer: &Writer, sha256s: &[String]) -> StoreResult<()> {
    for chunk in sha256s.chunks(500) {
        let chunk = chunk.to_vec();
        writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let mut query = QueryBuilder::new("DELETE FROM blob_doomed WHERE sha256 IN (");
                    let mut list = query.separated(", ");
                    for sha256 in &chunk {
                        list.push_bind(sha256.as_str());
                    }
                    query.push(")");
                    query.build().execute(conn).await.map_err(map_err)?;
                    Ok(())
                })
            })
            .await?;
    }
    Ok(())
}
