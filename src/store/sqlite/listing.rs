//! Paged lists in `seq` order (the keyset page tokens point into), and single-row reads and deletes.

use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite};

use super::errors::map_err;
use super::writer::Writer;
use crate::store::paging::{Cursor, Page, PageRequest};
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

/// A bound value in a list condition.
#[derive(Clone, Copy)]
pub enum Arg<'a> {
    Text(&'a str),
    Int(i64),
}

/// What to list: rows of `table` matching every `(sql, value)` condition (`sql` ends in an
/// operator, e.g. `"service_sid = "`), in `seq` order or, `descending`, newest first.
pub struct Listing<'a> {
    pub columns: &'a str,
    pub table: &'a str,
    pub conditions: Vec<(&'static str, Arg<'a>)>,
    pub descending: bool,
}

impl<'a> Listing<'a> {
    fn select(&self, query: &mut QueryBuilder<'a, Sqlite>) {
        query.push(format!(
            "SELECT {} FROM {} WHERE 1 = 1",
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

/// Reads one page of `listing`; see [`Listing`].
pub async fn list_rows<T>(
    pool: &SqlitePool,
    listing: &Listing<'_>,
    page: PageRequest,
) -> StoreResult<Page<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin + Positioned,
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
        .fetch_all(pool)
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
                        .fetch_one(pool)
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
