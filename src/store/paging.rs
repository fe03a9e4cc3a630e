//! Where a list page starts and what it returns, independent of backend.
//!
//! Positions are keyset positions on each table's internal `seq` (creation order), so a deep
//! page costs the same as the first; only a bare `Page=N` without a token uses an offset.

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cursor {
    /// Skip this many rows from the start (a `Page` without `PageToken`).
    Offset(u64),
    /// Rows that come after the row with this `seq`.
    After(i64),
    /// The page of rows that ends just before the row with this `seq`.
    Before(i64),
}

/// A page to read: start and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub cursor: Cursor,
    pub size: u32,
}

/// One page of rows in list order, and whether any row follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
}
