//! Logs of an environment, newest first.

use sqlx::sqlite::SqlitePool;

use super::errors::map_err;
use super::listing::{fetch_row, list_rows, Listing};
use super::writer::Writer;
use crate::store::paging::{Page, PageRequest};
use crate::store::tables::*;
use crate::store::{Log, LogFilter, StoreResult};

pub async fn create_log(writer: &Writer, log: &Log) -> StoreResult<Log> {
    let l = log.clone();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "INSERT INTO logs (sid, account_sid, service_sid, environment_sid, build_sid, \
                     deployment_sid, function_sid, request_sid, level, message, date_created) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {LOG_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&l.sid)
                    .bind(&l.account_sid)
                    .bind(&l.service_sid)
                    .bind(&l.environment_sid)
                    .bind(&l.build_sid)
                    .bind(&l.deployment_sid)
                    .bind(&l.function_sid)
                    .bind(&l.request_sid)
                    .bind(&l.level)
                    .bind(&l.message)
                    .bind(l.date_created)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn log(pool: &SqlitePool, environment_sid: &str, sid: &str) -> StoreResult<Log> {
    fetch_row(
        pool,
        (LOG_COLUMNS, "logs"),
        "environment_sid",
        environment_sid,
        sid,
    )
    .await
}

pub async fn list_logs(
    pool: &SqlitePool,
    environment_sid: &str,
    filter: &LogFilter,
    page: PageRequest,
) -> StoreResult<Page<Log>> {
    list_rows(pool, &Listing::logs(environment_sid, filter), page).await
}
