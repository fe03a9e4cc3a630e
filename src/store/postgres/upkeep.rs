//! Statements that keep unbounded data bounded: Log retention and caps, and the builds-per-hour
//! window. Several nodes may prune at once; deleting what another deleted is a no-op.

use sqlx::postgres::PgPool;

use super::errors::map_err;
use crate::store::{Prune, Pruned, StoreResult};

/// Rows deleted per statement, so that one prune never holds many row locks for long.
const BATCH: i64 = 5000;

pub async fn prune(pool: &PgPool, prune: &Prune) -> StoreResult<Pruned> {
    let mut pruned = Pruned::default();
    if let Some(before) = prune.logs_before {
        pruned.logs += delete_batches(
            pool,
            "DELETE FROM logs WHERE seq IN \
             (SELECT seq FROM logs WHERE date_created < $1 LIMIT $2)",
            before,
        )
        .await?;
    }
    if prune.max_logs_per_environment > 0 {
        let cap = i64::from(prune.max_logs_per_environment);
        let crowded: Vec<String> = sqlx::query_scalar(
            "SELECT environment_sid FROM logs GROUP BY environment_sid HAVING COUNT(*) > $1",
        )
        .bind(cap)
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
        for environment in crowded {
            // Everything from the newest log beyond the cap down.
            let done = sqlx::query(
                "DELETE FROM logs WHERE environment_sid = $1 AND seq <= \
                 (SELECT seq FROM logs WHERE environment_sid = $1 \
                  ORDER BY seq DESC LIMIT 1 OFFSET $2)",
            )
            .bind(&environment)
            .bind(cap)
            .execute(pool)
            .await
            .map_err(map_err)?;
            pruned.logs += done.rows_affected();
        }
    }
    delete_batches(
        pool,
        "DELETE FROM build_creations WHERE seq IN \
         (SELECT seq FROM build_creations WHERE date_created < $1 LIMIT $2)",
        prune.builds_before,
    )
    .await?;
    Ok(pruned)
}

/// Runs `sql` (bound to `before` and a batch size) until it deletes less than a batch.
async fn delete_batches(pool: &PgPool, sql: &'static str, before: i64) -> StoreResult<u64> {
    let mut total = 0;
    loop {
        let done = sqlx::query(sql)
            .bind(before)
            .bind(BATCH)
            .execute(pool)
            .await
            .map_err(map_err)?;
        total += done.rows_affected();
        if done.rows_affected() < BATCH as u64 {
            return Ok(total);
        }
    }
}
