//! The paged list every collection shares, as SQL any sqlx backend runs: keyset pages on
//! `seq` (see [`crate::store::paging`]). Each backend only executes the queries built here, so
//! page tokens mean the same on SQLite and PostgreSQL.

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::paging::{Cursor, PageRequest};
use super::tables::LOG_COLUMNS;
use super::{LogFilter, Positioned};

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

/// What a backend does after reading a page's rows (see [`Listing::arrange`]).
pub enum Next<'a, DB: Database> {
    /// Whether another page follows is known.
    Known(bool),
    /// Run this `SELECT EXISTS (…)` to learn it.
    Ask(QueryBuilder<'a, DB>),
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

    /// An environment's Logs matching `filter`, newest first (COMPAT §5.12).
    pub fn logs(environment_sid: &'a str, filter: &'a LogFilter) -> Self {
        let mut conditions = vec![("environment_sid = ", Arg::Text(environment_sid))];
        if let Some(start) = filter.start {
            conditions.push(("date_created >= ", Arg::Int(start)));
        }
        if let Some(end) = filter.end {
            conditions.push(("date_created <= ", Arg::Int(end)));
        }
        if let Some(function) = &filter.function_sid {
            conditions.push(("function_sid = ", Arg::Text(function)));
        }
        Listing {
            columns: LOG_COLUMNS,
            table: "logs",
            conditions,
            descending: true,
        }
    }

    fn select<DB>(&self, query: &mut QueryBuilder<'a, DB>)
    where
        DB: Database,
        &'a str: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
    {
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

    /// The comparison that keeps rows after a `seq` in list order, and the one before it.
    fn comparisons(&self) -> (&'static str, &'static str) {
        if self.descending {
            (" AND seq < ", " AND seq > ")
        } else {
            (" AND seq > ", " AND seq < ")
        }
    }

    /// The query for one page. It reads one row more than asked, to learn whether another
    /// page follows; a `Before` page reads backwards (and [`Listing::arrange`] flips it).
    pub fn page_query<DB>(&self, page: PageRequest) -> QueryBuilder<'a, DB>
    where
        DB: Database,
        &'a str: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
    {
        let size = i64::from(page.size);
        let (forward, backward) = if self.descending {
            ("DESC", "ASC")
        } else {
            ("ASC", "DESC")
        };
        let (after, before) = self.comparisons();
        let mut query = QueryBuilder::new("");
        self.select(&mut query);
        match page.cursor {
            Cursor::Offset(offset) => {
                query.push(format!(" ORDER BY seq {forward} LIMIT "));
                query.push_bind(size + 1);
                query.push(" OFFSET ");
                query.push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
            }
            Cursor::After(seq) => {
                query.push(after).push_bind(seq);
                query.push(format!(" ORDER BY seq {forward} LIMIT "));
                query.push_bind(size + 1);
            }
            Cursor::Before(seq) => {
                query.push(before).push_bind(seq);
                query.push(format!(" ORDER BY seq {backward} LIMIT "));
                query.push_bind(size);
            }
        }
        query
    }

    /// Puts the rows [`Listing::page_query`] read in list order and at most a page of them,
    /// and says whether another page follows, or how to ask.
    pub fn arrange<T, DB>(&self, items: &mut Vec<T>, page: PageRequest) -> Next<'a, DB>
    where
        T: Positioned,
        DB: Database,
        &'a str: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
    {
        match page.cursor {
            Cursor::Before(_) => {
                items.reverse();
                match items.last() {
                    Some(last) => {
                        let mut exists = QueryBuilder::new("SELECT EXISTS (");
                        self.select(&mut exists);
                        exists
                            .push(self.comparisons().0)
                            .push_bind(last.seq())
                            .push(")");
                        Next::Ask(exists)
                    }
                    None => Next::Known(false),
                }
            }
            _ => {
                let more = items.len() > page.size as usize;
                items.truncate(page.size as usize);
                Next::Known(more)
            }
        }
    }
}
