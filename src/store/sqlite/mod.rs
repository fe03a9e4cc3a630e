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

mod claims;
mod deploy;
mod upkeep;
mod writer;

use crate::store::paging::{Cursor, Page, PageRequest};
use crate::store::tables::{
    container_table, version_columns, version_table, CONTAINER_COLUMNS, SERVICE_COLUMNS,
};
use crate::store::{
    Account, Build, BuildDetail, BuildQuota, BuildStatus, Container, ContainerKind, Deployment,
    Encoded, Environment, Log, LogFilter, Positioned, Prune, Pruned, Service, ServiceKey,
    ServicePatch, Site, SiteChange, Store, StoreError, StoreResult, Unique, Variable, Version,
};
use writer::Writer;

/// SQLite store; see the module docs for its connection layout.
pub struct SqliteStore {
    writer: Writer,
    readers: SqlitePool,
    /// One process owns the file, so every change to a site is made here and announced here.
    sites: tokio::sync::broadcast::Sender<SiteChange>,
}

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
        Ok(SqliteStore {
            writer,
            readers,
            sites: tokio::sync::broadcast::channel(1024).0,
        })
    }
}

fn backend(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(err))
}

/// Maps SQLite's errors onto [`StoreError`], naming the violated unique rule.
pub(super) fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let message = db.message();
            let which = if message.contains("services.unique_name") {
                Unique::ServiceUniqueName
            } else if message.contains("services.domain_base") {
                Unique::ServiceDomainBase
            } else if message.contains("environments.domain_name") {
                Unique::EnvironmentDomain
            } else if message.contains("environments.") {
                Unique::EnvironmentName
            } else if message.contains("variables.") {
                Unique::VariableKey
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
async fn list_page<T>(
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
pub(super) async fn list_rows<T>(
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

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_account(&self, account: &Account) -> StoreResult<()> {
        let account = account.clone();
        self.writer
            .write_one(move |conn| {
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

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        sqlx::query_as("SELECT sid, auth_token FROM accounts ORDER BY date_created, sid")
            .fetch_all(&self.readers)
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
            .write_one(move |conn| {
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
            .write_one(move |conn| {
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
            .await?;
        let _ = self.sites.send(SiteChange::All);
        Ok(())
    }

    async fn create_container(
        &self,
        kind: ContainerKind,
        container: &Container,
    ) -> StoreResult<Container> {
        let container = container.clone();
        self.writer
            .write_one(move |conn| {
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
        let from = (CONTAINER_COLUMNS, container_table(kind));
        deploy::fetch_row(&self.readers, from, "service_sid", service_sid, sid).await
    }

    async fn list_containers(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<std::sync::Arc<Page<Container>>> {
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
        .map(std::sync::Arc::new)
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
            .write_one(move |conn| {
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
                    if let Some(build) = deploy::build_using(&mut *conn, kind, &sid).await? {
                        return Err(StoreError::InUse(build));
                    }
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
            .write_one(move |conn| {
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
                        .bind(version.visibility)
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
        let columns = version_columns(kind);
        deploy::fetch_row(&self.readers, (&columns, table), parent, container_sid, sid).await
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

    async fn versions_by_sid(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sids: &[String],
    ) -> StoreResult<Vec<Version>> {
        deploy::versions_by_sid(&self.readers, kind, service_sid, sids).await
    }

    async fn create_environment(
        &self,
        environment: &Environment,
        max_environments: u32,
    ) -> StoreResult<Environment> {
        deploy::create_environment(&self.writer, environment, max_environments).await
    }

    async fn environment(&self, service_sid: &str, sid: &str) -> StoreResult<Environment> {
        deploy::environment(&self.readers, service_sid, sid).await
    }

    async fn list_environments(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Environment>> {
        deploy::list_environments(&self.readers, service_sid, page).await
    }

    async fn delete_environment(&self, service_sid: &str, sid: &str) -> StoreResult<()> {
        let domain = deploy::delete_environment(&self.writer, service_sid, sid).await?;
        let _ = self.sites.send(SiteChange::Domain(domain));
        Ok(())
    }

    async fn create_build(
        &self,
        build: &Build,
        assets: &[String],
        functions: &[String],
        quota: BuildQuota,
    ) -> StoreResult<Build> {
        deploy::create_build(&self.writer, build, assets, functions, quota).await
    }

    async fn build(&self, service_sid: &str, sid: &str) -> StoreResult<BuildDetail> {
        deploy::build(&self.readers, service_sid, sid).await
    }

    async fn list_builds(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<BuildDetail>> {
        deploy::list_builds(&self.readers, service_sid, page).await
    }

    async fn claim_build(&self, holder: &str, now: i64, until: i64) -> StoreResult<Option<Build>> {
        claims::claim_build(&self.writer, holder, now, until).await
    }

    async fn renew_build_claim(&self, sid: &str, holder: &str, until: i64) -> StoreResult<bool> {
        claims::renew_build_claim(&self.writer, sid, holder, until).await
    }

    async fn finish_build(
        &self,
        sid: &str,
        status: BuildStatus,
        failure: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        deploy::finish_build(&self.writer, sid, status, failure, now).await
    }

    async fn delete_build(&self, service_sid: &str, sid: &str) -> StoreResult<()> {
        deploy::delete_build(&self.writer, service_sid, sid).await
    }

    async fn record_encoding(&self, encoded: &Encoded) -> StoreResult<()> {
        deploy::record_encoding(&self.writer, encoded).await
    }

    async fn encodings(&self, sha256: &str) -> StoreResult<Vec<Encoded>> {
        deploy::encodings(&self.readers, sha256).await
    }

    async fn hold_blob(&self, sha256: &str, holder: &str, until: i64) -> StoreResult<bool> {
        claims::hold_blob(&self.writer, sha256, holder, until).await
    }

    async fn release_blob(&self, sha256: &str, holder: &str) -> StoreResult<()> {
        claims::release_blob(&self.writer, sha256, holder).await
    }

    async fn doom_blobs(&self, candidates: &[String], now: i64) -> StoreResult<Vec<String>> {
        claims::doom_blobs(&self.writer, candidates, now).await
    }

    async fn doomed_blobs(&self) -> StoreResult<Vec<String>> {
        claims::doomed_blobs(&self.readers).await
    }

    async fn clear_doomed(&self, sha256s: &[String]) -> StoreResult<()> {
        claims::clear_doomed(&self.writer, sha256s).await
    }

    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        claims::take_lease(&self.writer, name, holder, now, until).await
    }

    async fn prune(&self, prune: &Prune) -> StoreResult<Pruned> {
        upkeep::prune(&self.writer, &self.readers, prune).await
    }

    async fn create_deployment(&self, deployment: &Deployment) -> StoreResult<Deployment> {
        let (created, domain) = deploy::create_deployment(&self.writer, deployment).await?;
        let _ = self.sites.send(SiteChange::Domain(domain));
        Ok(created)
    }

    async fn deployment(&self, environment_sid: &str, sid: &str) -> StoreResult<Deployment> {
        deploy::deployment(&self.readers, environment_sid, sid).await
    }

    async fn list_deployments(
        &self,
        environment_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Deployment>> {
        deploy::list_deployments(&self.readers, environment_sid, page).await
    }

    async fn create_variable(&self, variable: &Variable) -> StoreResult<Variable> {
        deploy::create_variable(&self.writer, variable).await
    }

    async fn variable(&self, environment_sid: &str, sid: &str) -> StoreResult<Variable> {
        deploy::variable(&self.readers, environment_sid, sid).await
    }

    async fn list_variables(
        &self,
        environment_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Variable>> {
        deploy::list_variables(&self.readers, environment_sid, page).await
    }

    async fn update_variable(
        &self,
        environment_sid: &str,
        sid: &str,
        key: Option<&str>,
        value: Option<&str>,
        now: i64,
    ) -> StoreResult<Variable> {
        deploy::update_variable(&self.writer, (environment_sid, sid), key, value, now).await
    }

    async fn delete_variable(&self, environment_sid: &str, sid: &str) -> StoreResult<()> {
        deploy::delete_variable(&self.writer, environment_sid, sid).await
    }

    async fn create_log(&self, log: &Log) -> StoreResult<Log> {
        deploy::create_log(&self.writer, log).await
    }

    async fn log(&self, environment_sid: &str, sid: &str) -> StoreResult<Log> {
        deploy::log(&self.readers, environment_sid, sid).await
    }

    async fn list_logs(
        &self,
        environment_sid: &str,
        filter: &LogFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Log>> {
        deploy::list_logs(&self.readers, environment_sid, filter, page).await
    }

    async fn site(&self, domain_name: &str) -> StoreResult<Option<Site>> {
        deploy::site(&self.readers, domain_name).await
    }

    fn site_changes(&self) -> tokio::sync::broadcast::Receiver<SiteChange> {
        self.sites.subscribe()
    }
}
