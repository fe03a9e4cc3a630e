//! Reading rows by SID within a parent, and the paged list every collection shares: keyset
//! pages on `seq` (see [`crate::store::paging`]).

use sqlx::postgres::{PgConnection, PgPool, PgRow};

use super::errors::map_err;
use crate::store::listing::Next;
pub(super) use crate::store::listing::{Arg, Listing};
use crate::store::paging::{Page, PageRequest};
use crate::store::{Positioned, StoreError, StoreResult};

/// Reads one page of `listing` on a connection of `pool`; see [`read_page`].
pub(super) async fn list_rows<T>(
    pool: &PgPool,
    listing: &Listing<'_>,
    page: PageRequest,
) -> StoreResult<Page<T>>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin + Positioned,
{
    let mut conn = pool.acquire().await.map_err(map_err)?;
    read_page(&mut conn, listing, page).await
}

/// Reads one page of `listing` (the SQL is [`Listing`]'s, shared by every backend).
pub(super) async fn read_page<T>(
    conn: &mut PgConnection,
    listing: &Listing<'_>,
    page: PageRequest,
) -> StoreResult<Page<T>>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin + Positioned,
{
    let mut items: Vec<T> = listing
        .page_query(page)
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let has_next = match listing.arrange(&mut items, page) {
        Next::Known(more) => more,
        Next::Ask(mut exists) => exists
            .build_query_scalar()
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?,
    };
    Ok(Page { items, has_next })
}

/// One row of `table` by SID within a parent; `NotFound` when nothing matched.
pub(super) async fn fetch_row<T>(
    pool: &PgPool,
    (columns, table): (&str, &str),
    parent_column: &str,
    parent: &str,
    sid: &str,
) -> StoreResult<T>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let sql = format!("SELECT {columns} FROM {table} WHERE sid = $1 AND {parent_column} = $2");
    sqlx::query_as(&sql)
        .bind(sid)
        .bind(parent)
        .fetch_one(pool)
        .await
        .map_err(map_err)
}

/// Deletes one row of `table` by SID within a parent; `NotFound` when nothing matched.
pub(super) async fn delete_row(
    pool: &PgPool,
    table: &str,
    parent_column: &str,
    parent: &str,
    sid: &str,
) -> StoreResult<()> {
    let sql = format!("DELETE FROM {table} WHERE sid = $1 AND {parent_column} = $2");
    let done = sqlx::query(&sql)
        .bind(sid)
        .bind(parent)
        .execute(pool)
        .await
        .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
