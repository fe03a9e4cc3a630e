//! Paged lists in `seq` order (the keyset page tokens point into), and single-row reads and deletes.

use sqlx::sqlite::SqlitePool;

use super::errors::map_err;
use super::writer::Writer;
use crate::store::listing::Next;
pub use crate::store::listing::{Arg, Listing};
use crate::store::paging::{Page, PageRequest};
use crate::store::{Positioned, StoreError, StoreResult};

/// One row of `table` by SID within a parent; `NotFound` when nothing matched.
pub async fn fetch_row<T>(
    pool: &SqlitePool,
    (columns, table): (&str, &str),
    parent_column: &str,
    parent: &str,
    sid: &str,
) -> StoreResult<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    let sql = format!("SELECT {columns} FROM {table} WHERE sid = ? AND {parent_column} = ?");
    sqlx::query_as(&sql)
        .bind(sid)
        .bind(parent)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

/// Deletes one row of `table` by SID within a parent; `NotFound` when nothing matched.
pub async fn delete_row(
    writer: &Writer,
    table: &'static str,
    parent_column: &'static str,
    parent: &str,
    sid: &str,
) -> StoreResult<()> {
    let (parent, sid) = (parent.to_owned(), sid.to_owned());
    writer
        .write_one(move |conn| {
            Box::pin(async move {
                let sql = format!("DELETE FROM {table} WHERE sid = ? AND {parent_column} = ?");
                let done = sqlx::query(&sql)
                    .bind(&sid)
                    .bind(&parent)
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

/// Reads one page of `table` in `seq` order, restricted to rows whose `scope_column` equals
/// `scope`. Fetches one row more than asked to learn whether another page follows.
pub async fn list_page<T>(
    pool: &SqlitePool,
    columns: &str,
    table: &str,
    scope_column: &str,
    scope: &str,
    page: PageRequest,
) -> StoreResult<Page<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin + Positioned,
{
    let condition: &'static str = match scope_column {
        "account_sid" => "account_sid = ",
        "service_sid" => "service_sid = ",
        "asset_sid" => "asset_sid = ",
        "function_sid" => "function_sid = ",
        _ => "environment_sid = ",
    };
    let listing = Listing {
        columns,
        table,
        conditions: vec![(condition, Arg::Text(scope))],
        descending: false,
    };
    list_rows(pool, &listing, page).await
}

/// Reads one page of `listing` (the SQL is [`Listing`]'s, shared by every backend).
pub async fn list_rows<T>(
    pool: &SqlitePool,
    listing: &Listing<'_>,
    page: PageRequest,
) -> StoreResult<Page<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin + Positioned,
{
    let mut items: Vec<T> = listing
        .page_query(page)
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
    let has_next = match listing.arrange(&mut items, page) {
        Next::Known(more) => more,
        Next::Ask(mut exists) => exists
            .build_query_scalar()
            .fetch_one(pool)
            .await
            .map_err(map_err)?,
    };
    Ok(Page { items, has_next })
}
