//! The embedded SQLite backend: WAL, `synchronous = FULL` (a commit is on disk before the
//! API answers), one writing connection behind a group-commit task (`sqlite_writer`), and a
//! pool of readers that see every committed write.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, QueryBuilder, Sqlite};

use super::sqlite_writer::Writer;

use super::paging::{Cursor, Page, PageRequest};
use super::{
    Account, Container, ContainerKind, Service, ServiceKey, ServicePatch, Store, StoreError,
    StoreResult, Unique, Version,
};

/// SQLite store; see the module docs for its connection layout.
pub struct SqliteStore {
    writer: Writer,
    readers: SqlitePool,
}

const SERVICE_COLUMNS: &str = "seq, sid, account_sid, friendly_name, unique_name, \
     include_credentials, ui_editable, domain_base, date_created, date_updated";
const CONTAINER_COLUMNS: &str =
    "seq, sid, account_sid, service_sid, friendly_name, date_created, date_updated";

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and runs the embedded migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory");
        let mut conn = options.connect().await.map_err(backend)?;
        sqlx::migrate!("migrations/sqlite")
            .run(&mut conn)
            .await
            .map_err(backend)?;
        let writer = Writer::spawn(conn);
        let readers = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options)
            .await
            .map_err(backend)?;
        Ok(SqliteStore { writer, readers })
    }
}

fn backend(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(err))
}

/// Maps SQLite's errors onto [`StoreError`], naming the violated unique rule.
fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let message = db.message();
            let which = if message.contains("services.unique_name") {
                Unique::ServiceUniqueName
            } else if message.contains("services.domain_base") {
                Unique::ServiceDomainBase
            } else {
                Unique::Other
            };
            StoreError::Conflict(which)
        }
        // A child inserted under a parent deleted meanwhile.
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => backend(err),
    }
}

/// Table of the versions of `kind`, and the column naming their Asset or Function.
fn version_table(kind: ContainerKind) -> (&'static str, &'static str) {
    match kind {
        ContainerKind::Asset => ("asset_versions", "asset_sid"),
        ContainerKind::Function => ("function_versions", "function_sid"),
    }
}

/// Version columns with the parent column renamed to `container_sid`.
fn version_columns(kind: ContainerKind) -> String {
    let (_, parent) = version_table(kind);
    format!(
        "seq, sid, account_sid, service_sid, {parent} AS container_sid, path, visibility, \
         content_type, size, sha256, date_created"
    )
}

fn container_table(kind: ContainerKind) -> &'static str {
    match kind {
        ContainerKind::Asset => "assets",
        ContainerKind::Function => "functions",
    }
}

/// Reads one page of `table` in `seq` order, restricted to rows whose `scope_column` equals
/// `scope`. Fetches one row more than asked to learn whether another page follows.
async fn list_page<T>(
    pool: &SqlitePool,
    columns: &str,
    table: &str,
    scope_column: &str,
    scope: &str,
    page: PageRequest,
) -> StoreResult<Page<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin + HasSeq,
{
    let size = i64::from(page.size);
    let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
        "SELECT {columns} FROM {table} WHERE {scope_column} = "
    ));
    query.push_bind(scope);
    match page.cursor {
        Cursor::Offset(offset) => {
            query.push(" ORDER BY seq LIMIT ");
            query.push_bind(size + 1);
            query.push(" OFFSET ");
            query.push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
        }
        Cursor::After(seq) => {
            query.push(" AND seq > ");
            query.push_bind(seq);
            query.push(" ORDER BY seq LIMIT ");
            query.push_bind(size + 1);
        }
        Cursor::Before(seq) => {
            query.push(" AND seq < ");
            query.push_bind(seq);
            query.push(" ORDER BY seq DESC LIMIT ");
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
                    let sql = format!(
                        "SELECT EXISTS (SELECT 1 FROM {table} WHERE {scope_column} = ? AND seq > ?)"
                    );
                    sqlx::query_scalar(&sql)
                        .bind(scope)
                        .bind(last.seq())
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

/// Rows that know their position in list order.
pub trait HasSeq {
    fn seq(&self) -> i64;
}

impl HasSeq for Service {
    fn seq(&self) -> i64 {
        self.seq
    }
}

impl HasSeq for Version {
    fn seq(&self) -> i64 {
        self.seq
    }
}

impl HasSeq for Container {
    fn seq(&self) -> i64 {
        self.seq
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_account(&self, account: &Account) -> StoreResult<()> {
        let account = account.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO accounts (sid, auth_token, date_created) VALUES (?, ?, ?) \
                         ON CONFLICT (sid) DO UPDATE SET auth_token = excluded.auth_token",
                    )
                    .bind(&account.sid)
                    .bind(&account.auth_token)
                    .bind(crate::clock::now())
                    .execute(conn)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                })
            })
            .await
    }

    async fn account(&self, sid: &str) -> StoreResult<Option<Account>> {
        sqlx::query_as("SELECT sid, auth_token FROM accounts WHERE sid = ?")
            .bind(sid)
            .fetch_optional(&self.readers)
            .await
            .map_err(map_err)
    }

    async fn first_account(&self) -> StoreResult<Option<Account>> {
        sqlx::query_as("SELECT sid, auth_token FROM accounts ORDER BY date_created, sid LIMIT 1")
            .fetch_optional(&self.readers)
            .await
            .map_err(map_err)
    }

    async fn create_service(&self, service: &Service, max_services: u32) -> StoreResult<Service> {
        let service = service.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    if max_services > 0 {
                        let count: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM services WHERE account_sid = ?",
                        )
                        .bind(&service.account_sid)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(map_err)?;
                        if count >= i64::from(max_services) {
                            return Err(StoreError::LimitReached);
                        }
                    }
                    let sql = format!(
                        "INSERT INTO services (sid, account_sid, friendly_name, unique_name, \
                         include_credentials, ui_editable, domain_base, date_created, \
                         date_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                         RETURNING {SERVICE_COLUMNS}"
                    );
                    sqlx::query_as(&sql)
                        .bind(&service.sid)
                        .bind(&service.account_sid)
                        .bind(&service.friendly_name)
                        .bind(&service.unique_name)
                        .bind(service.include_credentials)
                        .bind(service.ui_editable)
                        .bind(&service.domain_base)
                        .bind(service.date_created)
                        .bind(service.date_updated)
                        .fetch_one(conn)
                        .await
                        .map_err(map_err)
                })
            })
            .await
    }

    async fn service(&self, account_sid: &str, key: ServiceKey<'_>) -> StoreResult<Service> {
        let (column, value) = match key {
            ServiceKey::Sid(sid) => ("sid", sid),
            ServiceKey::UniqueName(name) => ("unique_name", name),
        };
        let sql = format!(
            "SELECT {SERVICE_COLUMNS} FROM services WHERE account_sid = ? AND {column} = ?"
        );
        sqlx::query_as(&sql)
            .bind(account_sid)
            .bind(value)
            .fetch_one(&self.readers)
            .await
            .map_err(map_err)
    }

    async fn list_services(
        &self,
        account_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Service>> {
        list_page(
            &self.readers,
            SERVICE_COLUMNS,
            "services",
            "account_sid",
            account_sid,
            page,
        )
        .await
    }

    async fn update_service(
        &self,
        sid: &str,
        patch: &ServicePatch,
        now: i64,
    ) -> StoreResult<Service> {
        let (sid, patch) = (sid.to_owned(), patch.clone());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let sql = format!(
                        "UPDATE services SET friendly_name = COALESCE(?, friendly_name), \
                         include_credentials = COALESCE(?, include_credentials), \
                         ui_editable = COALESCE(?, ui_editable), date_updated = ? \
                         WHERE sid = ? RETURNING {SERVICE_COLUMNS}"
                    );
                    sqlx::query_as(&sql)
                        .bind(&patch.friendly_name)
                        .bind(patch.include_credentials)
                        .bind(patch.ui_editable)
                        .bind(now)
                        .bind(&sid)
                        .fetch_one(conn)
                        .await
                        .map_err(map_err)
                })
            })
            .await
    }

    async fn delete_service(&self, sid: &str) -> StoreResult<()> {
        let sid = sid.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM services WHERE sid = ?")
                        .bind(&sid)
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

    async fn create_container(
        &self,
        kind: ContainerKind,
        container: &Container,
    ) -> StoreResult<Container> {
        let container = container.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let sql = format!(
                        "INSERT INTO {} (sid, account_sid, service_sid, friendly_name, \
                         date_created, date_updated) VALUES (?, ?, ?, ?, ?, ?) \
                         RETURNING {CONTAINER_COLUMNS}",
                        container_table(kind)
                    );
                    sqlx::query_as(&sql)
                        .bind(&container.sid)
                        .bind(&container.account_sid)
                        .bind(&container.service_sid)
                        .bind(&container.friendly_name)
                        .bind(container.date_created)
                        .bind(container.date_updated)
                        .fetch_one(conn)
                        .await
                        .map_err(map_err)
                })
            })
            .await
    }

    async fn container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<Container> {
        let sql = format!(
            "SELECT {CONTAINER_COLUMNS} FROM {} WHERE sid = ? AND service_sid = ?",
            container_table(kind)
        );
        sqlx::query_as(&sql)
            .bind(sid)
            .bind(service_sid)
            .fetch_one(&self.readers)
            .await
            .map_err(map_err)
    }

    async fn list_containers(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Container>> {
        let table = container_table(kind);
        list_page(
            &self.readers,
            CONTAINER_COLUMNS,
            table,
            "service_sid",
            service_sid,
            page,
        )
        .await
    }

    async fn rename_container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
        friendly_name: &str,
        now: i64,
    ) -> StoreResult<Container> {
        let (service_sid, sid) = (service_sid.to_owned(), sid.to_owned());
        let friendly_name = friendly_name.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let sql = format!(
                        "UPDATE {} SET friendly_name = ?, date_updated = ? \
                         WHERE sid = ? AND service_sid = ? RETURNING {CONTAINER_COLUMNS}",
                        container_table(kind)
                    );
                    sqlx::query_as(&sql)
                        .bind(&friendly_name)
                        .bind(now)
                        .bind(&sid)
                        .bind(&service_sid)
                        .fetch_one(conn)
                        .await
                        .map_err(map_err)
                })
            })
            .await
    }

    async fn delete_container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<()> {
        let (service_sid, sid) = (service_sid.to_owned(), sid.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let sql = format!(
                        "DELETE FROM {} WHERE sid = ? AND service_sid = ?",
                        container_table(kind)
                    );
                    let done = sqlx::query(&sql)
                        .bind(&sid)
                        .bind(&service_sid)
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

    async fn create_version(&self, kind: ContainerKind, version: &Version) -> StoreResult<Version> {
        let version = version.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let (table, parent) = version_table(kind);
                    let sql = format!(
                        "INSERT INTO {table} (sid, account_sid, service_sid, {parent}, path, \
                         visibility, content_type, size, sha256, date_created) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {}",
                        version_columns(kind)
                    );
                    sqlx::query_as(&sql)
                        .bind(&version.sid)
                        .bind(&version.account_sid)
                        .bind(&version.service_sid)
                        .bind(&version.container_sid)
                        .bind(&version.path)
                        .bind(&version.visibility)
                        .bind(&version.content_type)
                        .bind(version.size)
                        .bind(&version.sha256)
                        .bind(version.date_created)
                        .fetch_one(conn)
                        .await
                        .map_err(map_err)
                })
            })
            .await
    }

    async fn version(
        &self,
        kind: ContainerKind,
        container_sid: &str,
        sid: &str,
    ) -> StoreResult<Version> {
        let (table, parent) = version_table(kind);
        let sql = format!(
            "SELECT {} FROM {table} WHERE sid = ? AND {parent} = ?",
            version_columns(kind)
        );
        sqlx::query_as(&sql)
            .bind(sid)
            .bind(container_sid)
            .fetch_one(&self.readers)
            .await
            .map_err(map_err)
    }

    async fn list_versions(
        &self,
        kind: ContainerKind,
        container_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Version>> {
        let (table, parent) = version_table(kind);
        let columns = version_columns(kind);
        list_page(&self.readers, &columns, table, parent, container_sid, page).await
    }

    async fn referenced_blobs(&self) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT sha256 FROM asset_versions UNION SELECT sha256 FROM function_versions",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(map_err)
    }
}
