//! Environments.

use sqlx::sqlite::SqlitePool;

use super::errors::map_err;
use super::listing::{fetch_row, list_rows, Arg, Listing};
use super::writer::Writer;
use crate::store::paging::{Page, PageRequest};
use crate::store::tables::*;
use crate::store::{Environment, StoreError, StoreResult};

pub async fn create_environment(
    writer: &Writer,
    environment: &Environment,
    max_environments: u32,
) -> StoreResult<Environment> {
    let e = environment.clone();
    writer
        .write(move |conn| {
            Box::pin(async move {
                if max_environments > 0 {
                    let count: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM environments WHERE service_sid = ?",
                    )
                    .bind(&e.service_sid)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(map_err)?;
                    if count >= i64::from(max_environments) {
                        return Err(StoreError::LimitReached);
                    }
                }
                let suffix_key = e
                    .domain_suffix
                    .as_deref()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                // Checked first so that a clash inside the service is reported as such, not
                // as the domain clash it also causes.
                let taken: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM environments WHERE service_sid = ? \
                     AND (unique_name = ? OR suffix_key = ?))",
                )
                .bind(&e.service_sid)
                .bind(&e.unique_name)
                .bind(&suffix_key)
                .fetch_one(&mut *conn)
                .await
                .map_err(map_err)?;
                if taken {
                    return Err(StoreError::Conflict(crate::store::Unique::EnvironmentName));
                }
                let sql = format!(
                    "INSERT INTO environments (sid, account_sid, service_sid, build_sid, \
                     unique_name, domain_suffix, suffix_key, domain_name, date_created, \
                     date_updated) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?) \
                     RETURNING {ENVIRONMENT_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&e.sid)
                    .bind(&e.account_sid)
                    .bind(&e.service_sid)
                    .bind(&e.unique_name)
                    .bind(&e.domain_suffix)
                    .bind(suffix_key)
                    .bind(&e.domain_name)
                    .bind(e.date_created)
                    .bind(e.date_updated)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn environment(
    pool: &SqlitePool,
    service_sid: &str,
    sid: &str,
) -> StoreResult<Environment> {
    let from = (ENVIRONMENT_COLUMNS, "environments");
    fetch_row(pool, from, "service_sid", service_sid, sid).await
}

pub async fn list_environments(
    pool: &SqlitePool,
    service_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Environment>> {
    let listing = Listing {
        columns: ENVIRONMENT_COLUMNS,
        table: "environments",
        conditions: vec![("service_sid = ", Arg::Text(service_sid))],
        descending: false,
    };
    list_rows(pool, &listing, page).await
}

/// Deletes the environment; returns its domain, which no longer serves anything.
pub async fn delete_environment(
    writer: &Writer,
    service_sid: &str,
    sid: &str,
) -> StoreResult<String> {
    let (service_sid, sid) = (service_sid.to_owned(), sid.to_owned());
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                sqlx::query_scalar(
                    "DELETE FROM environments WHERE sid = ? AND service_sid = ? \
                     RETURNING domain_name",
                )
                .bind(&sid)
                .bind(&service_sid)
                .fetch_one(conn)
                .await
                .map_err(map_err)
            })
        })
        .await
}
