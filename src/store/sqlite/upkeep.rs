//! SQLite statements that keep unbounded data bounded: Log retention and caps, and the
//! builds-per-hour window.

use super::errors::map_err;
use super::writer::Writer;
use crate::store::{Prune, Pruned, StoreResult};

/// Rows deleted per statement, so that one prune never holds the writer for long.
const BATCH: i64 = 5000;

pub async fn prune(writer: &Writer, pool: &sqlx::SqlitePool, prune: &Prune) -> StoreResult<Pruned> {
    let mut pruned = Pruned::default();
    if let Some(before) = prune.logs_before {
        pruned.logs += delete_batches(
            writer,
            "DELETE FROM logs WHERE seq IN \
             (SELECT seq FROM logs WHERE date_created < ? LIMIT ?)",
            before,
        )
        .await?;
    }
    if prune.max_logs_per_environment > 0 {
        let cap = i64::from(prune.max_logs_per_environment);
        let crowded: Vec<String> = sqlx::query_scalar(
            "SELECT environment_sid FROM logs GROUP BY environment_sid HAVING COUNT(*) > ?",
        )
        .bind(cap)
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
        for environment in crowded {
            pruned.logs += writer
                .write_one(move |conn| {
                    Box::pin(async move {
                        let done = sqlx::query(
                            "DELETE FROM logs WHERE environment_sid = ?1 AND seq <= \
                             (SELECT seq FROM logs WHERE environment_sid = ?1 \
                              ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                        )
                        .bind(&environment)
                        .bind(cap)
                        .execute(conn)
                        .await
                        .map_err(map_err)?;
                        Ok(done.rows_affected())
                    })
                })
                .await?;
        }
    }
    delete_batches(
        writer,
        "DELETE FROM build_creations WHERE rowid IN \
         (SELECT rowid FROM build_creations WHERE date_created < ? LIMIT ?)",
        prune.builds_before,
    )
    .await?;
    Ok(pruned)
}

/// Runs `sql` (bound to `before` and a batch size) until it deletes less than a batch.
async fn delete_batches(writer: &Writer, sql: &'static str, before: i64) -> StoreResult<u64> {
    let mut total = 0;
    loop {
        let deleted = writer
            .write_one(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(sql)
                        .bind(before)
                        .bind(BATCH)
                        .execute(conn)
                        .await
                        .map_err(map_err)?;
                    Ok(done.rows_affected())
                })
            })
            .await?;
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
    }
}
