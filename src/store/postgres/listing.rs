//! Reading rows by SID within a parent, and the paged list every collection shares: keyset
//! pages on `seq` (see [`crate::store::paging`]).

use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::{Postgres, QueryBuilder};

use super::errors::map_err;
use crate::store::paging::{Cursor, Page, PageRequest};
use crate::store::{Positioned, StoreError, StoreResult};

/// A bound value in a list condition.
#[derive(Clone, Copy)]
pub(super) enum Arg<'a> {
    Text(&'a str),
    Int(i64),
}

/// What to list: rows of `table` matching every `(sql, value)` condition (`sql` ends in an
/// operator, e.g. `"service_sid = "`), in `seq` order or, `descending`, newest first.
pub(super) struct Listing<'a> {
    pub columns: &'a str,
    pub table: &'a str,
    pub conditions: Vec<(&'static str, Arg<'a>)>,
    pub descending: bool,
}

impl<'a> Listing<'a> {
    /// The rows of `table` whose `column` equals `scope`, in list order.
    pub fn scoped(columns: &'a str, table: &'a str, column: &'static str, scope: &'a str) -> Self {
        Listing {
            columns,
            table,
            conditions: vec![(column, Arg::Text(scope))],
            descending: false,
        }
    }

    fn select(&self, query: &mut QueryBuilder<'a, Postgres>) {
        query.push(format!(
            "SELECT {} FROM {} WHERE TRUE",
            self.columns, self.table
        ));
        for (sql, arg) in &self.conditions {
            query.push(" AND ").push(*sql);
            match *arg {
                Arg::Text(text) => query.push_bind(text),
                Arg::Int(number) => query.push_bind(number),
            };
        }
    }
}

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

/// Reads one page of `listing`. Fetches one row more than asked to learn whether another page
/// follows; a `Before` page reads backwards, so it asks separately whether rows follow it.
pub(super) async fn read_page<T>(
    conn: &mut PgConnection,
    listing: &Listing<'_>,
    page: PageRequest,
) -> StoreResult<Page<T>>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin + Positioned,
{
    let size = i64::from(page.size);
    // "Forward" is list order; `Before` reads backwards and flips the page.
    let (forward, backward, forward_cmp, backward_cmp) = if listing.descending {
        ("DESC", "ASC", " AND seq < ", " AND seq > ")
    } else {
        ("ASC", "DESC", " AND seq > ", " AND seq < ")
    };
    let mut query = QueryBuilder::new("");
    listing.select(&mut query);
    match page.cursor {
        Cursor::Offset(offset) => {
            query.push(format!(" ORDER BY seq {forward} LIMIT "));
            query.push_bind(size + 1);
            query.push(" OFFSET ");
            query.push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
        }
        Cursor::After(seq) => {
            query.push(forward_cmp).push_bind(seq);
            query.push(format!(" ORDER BY seq {forward} LIMIT "));
            query.push_bind(size + 1);
        }
        Cursor::Before(seq) => {
            query.push(backward_cmp).push_bind(seq);
            query.push(format!(" ORDER BY seq {backward} LIMIT "));
            query.push_bind(size);
        }
    }
    let mut items: Vec<T> = query
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let has_next = match page.cursor {
        Cursor::Before(_) => {
            items.reverse();
            match items.last() {
                Some(last) => {
                    let mut exists = QueryBuilder::new("SELECT EXISTS (");
                    listing.select(&mut exists);
                    exists.push(forward_cmp).push_bind(last.seq()).push(")");
                    exists
                        .build_query_scalar()
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(map_err)?
                }
                None => false,
            }
        }
        _ => {
            let more = items.len() > page.size as usize;
            items.truncate(page.size as usize);
            more
        }
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
