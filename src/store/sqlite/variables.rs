//! Variables of an environment.

use sqlx::sqlite::SqlitePool;

use super::errors::map_err;
use super::listing::{delete_row, fetch_row, list_rows, Arg, Listing};
use super::writer::Writer;
use crate::store::paging::{Page, PageRequest};
use crate::store::tables::*;
use crate::store::{StoreResult, Variable};

pub async fn create_variable(writer: &Writer, variable: &Variable) -> StoreResult<Variable> {
    let v = variable.clone();
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "INSERT INTO variables (sid, account_sid, service_sid, environment_sid, key, \
                     value, date_created, date_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                     RETURNING {VARIABLE_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&v.sid)
                    .bind(&v.account_sid)
                    .bind(&v.service_sid)
                    .bind(&v.environment_sid)
                    .bind(&v.key)
                    .bind(&v.value)
                    .bind(v.date_created)
                    .bind(v.date_updated)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn variable(
    pool: &SqlitePool,
    environment_sid: &str,
    sid: &str,
) -> StoreResult<Variable> {
    let from = (VARIABLE_COLUMNS, "variables");
    fetch_row(pool, from, "environment_sid", environment_sid, sid).await
}

pub async fn list_variables(
    pool: &SqlitePool,
    environment_sid: &str,
    page: PageRequest,
) -> StoreResult<Page<Variable>> {
    let listing = Listing {
        columns: VARIABLE_COLUMNS,
        table: "variables",
        conditions: vec![("environment_sid = ", Arg::Text(environment_sid))],
        descending: false,
    };
    list_rows(pool, &listing, page).await
}

pub async fn update_variable(
    writer: &Writer,
    (environment_sid, sid): (&str, &str),
    key: Option<&str>,
    value: Option<&str>,
    now: i64,
) -> StoreResult<Variable> {
    let (environment_sid, sid) = (environment_sid.to_owned(), sid.to_owned());
    let (key, value) = (key.map(str::to_owned), value.map(str::to_owned));
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE variables SET key = COALESCE(?, key), value = COALESCE(?, value), \
                     date_updated = ? WHERE sid = ? AND environment_sid = ? \
                     RETURNING {VARIABLE_COLUMNS}"
                );
                sqlx::query_as(&sql)
                    .bind(&key)
                    .bind(&value)
                    .bind(now)
                    .bind(&sid)
                    .bind(&environment_sid)
                    .fetch_one(conn)
                    .await
                    .map_err(map_err)
            })
        })
        .await
}

pub async fn delete_variable(writer: &Writer, environment_sid: &str, sid: &str) -> StoreResult<()> {
    delete_row(writer, "variables", "environment_sid", environment_sid, sid).await
}
