//! The PostgreSQL backend, for several depot nodes sharing one database.
//!
//! Each trait method is one statement or one transaction at READ COMMITTED; where a check and
//! the write it guards must not be separated by another node's write (quotas, in-use checks,
//! content holds), the transaction takes a row or advisory lock first, and the reasoning is
//! written beside it. Commits are durable when acknowledged: `synchronous_commit` is left as
//! the server sets it, `on` by default.
//! Nothing here caches: every node must see every other node's writes.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;

mod accounts;
mod builds;
mod claims;
mod console;
mod containers;
mod deploy;
mod errors;
mod listing;
mod lookups;
mod notify;
mod services;
mod site;
mod testing;
mod upkeep;

pub use testing::{postgres_test_schema, TestSchema};

use crate::store::{
    Account, AccountFilter, AccountPatch, AccountRecord, AccountScope, ApiKey, Build, BuildDetail,
    BuildQuota, BuildStatus, ConsoleSession, Container, ContainerKind, Deployment, Encoded,
    Environment, Log, LogFilter, Page, PageRequest, Prune, Pruned, Service, ServiceKey,
    ServicePatch, Site, SiteChange, Store, StoreError, StoreResult, Variable, Version,
};
use errors::{backend, map_err};

/// Connections per node; PostgreSQL's default server limit is 100 for all nodes together.
const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a connection (or for the database to answer a new one)
/// before it fails as unavailable, rather than hanging while the database is down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How reads of several statements begin: one consistent snapshot, no writes.
const SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// PostgreSQL store: a connection pool and the task that hears other nodes' site changes.
pub struct PgStore {
    pool: PgPool,
    sites: tokio::sync::broadcast::Sender<SiteChange>,
    listener: tokio::task::JoinHandle<()>,
    lookups: lookups::Lookups,
}

impl PgStore {
    /// Connects to the database at `url`, brings its schema up to date and starts listening
    /// for site changes.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(backend)?
            // Notices (such as "relation already exists, skipping" from every node's migrator
            // but the first) would reach the log as INFO lines; warnings still do.
            .options([("client_min_messages", "warning")]);
        // One connection first: the pool retries refused connections until its timeout and
        // then reports only that it timed out, while the operator needs the reason.
        match tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options)).await {
            Ok(Ok(probe)) => probe.close().await.map_err(map_err)?,
            Ok(Err(err)) => return Err(map_err(err)),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "no connection within {} s",
                    ACQUIRE_TIMEOUT.as_secs()
                )))
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A ping before every query doubles the round trips of a read. A connection that
            // died fails its next query instead (one 503), and the pool then replaces it.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(map_err)?;
        // Several nodes may start at once: sqlx's migrator holds a session advisory lock
        // (`pg_advisory_lock`, keyed by the database name) around checking and applying
        // migrations, so one node migrates and the others then find the work done. A failed
        // run returns without unlocking; closing the pool ends that session and its lock.
        if let Err(err) = sqlx::migrate!("migrations/postgres").run(&pool).await {
            pool.close().await;
            return Err(match err {
                sqlx::migrate::MigrateError::Execute(err) => map_err(err),
                other => backend(other),
            });
        }
        let sites = tokio::sync::broadcast::channel(1024).0;
        let lookup_options = options.clone();
        let listener = match notify::follow(options, sites.clone()).await {
            Ok(listener) => listener,
            Err(err) => {
                pool.close().await;
                return Err(err);
            }
        };
        Ok(PgStore {
            lookups: lookups::Lookups::new(lookup_options),
            pool,
            sites,
            listener,
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // The listener task would otherwise outlive the store, holding its connection.
        self.listener.abort();
    }
}

#[async_trait]
impl Store for PgStore {
    async fn upsert_account(&self, account: &Account) -> StoreResult<()> {
        services::upsert_account(&self.pool, account).await
    }

    async fn account(&self, sid: &str) -> StoreResult<Option<Account>> {
        services::account(&self.pool, sid).await
    }

    async fn first_account(&self) -> StoreResult<Option<Account>> {
        services::first_account(&self.pool).await
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        services::list_accounts(&self.pool).await
    }

    async fn create_account(&self, account: &AccountRecord) -> StoreResult<AccountRecord> {
        accounts::create_account(&self.pool, account).await
    }

    async fn account_record(&self, sid: &str) -> StoreResult<Option<AccountRecord>> {
        accounts::account_record(&self.pool, sid).await
    }

    async fn list_account_records(
        &self,
        scope: AccountScope<'_>,
        filter: &AccountFilter<'_>,
        page: PageRequest,
    ) -> StoreResult<Page<AccountRecord>> {
        accounts::list_account_records(&self.pool, scope, filter, page).await
    }

    async fn update_account(
        &self,
        sid: &str,
        patch: &AccountPatch,
        now: i64,
    ) -> StoreResult<AccountRecord> {
        accounts::update_account(&self.pool, sid, patch, now).await
    }

    async fn create_key(&self, key: &ApiKey) -> StoreResult<ApiKey> {
        accounts::create_key(&self.pool, key).await
    }

    async fn key(&self, account_sid: &str, sid: &str) -> StoreResult<ApiKey> {
        accounts::key(&self.pool, account_sid, sid).await
    }

    async fn key_for_auth(&self, sid: &str) -> StoreResult<Option<ApiKey>> {
        accounts::key_for_auth(&self.pool, sid).await
    }

    async fn list_keys(&self, account_sid: &str, page: PageRequest) -> StoreResult<Page<ApiKey>> {
        accounts::list_keys(&self.pool, account_sid, page).await
    }

    async fn rename_key(
        &self,
        account_sid: &str,
        sid: &str,
        friendly_name: Option<&str>,
        now: i64,
    ) -> StoreResult<ApiKey> {
        accounts::rename_key(&self.pool, (account_sid, sid), friendly_name, now).await
    }

    async fn delete_key(&self, account_sid: &str, sid: &str) -> StoreResult<()> {
        accounts::delete_key(&self.pool, account_sid, sid).await
    }

    async fn create_service(&self, service: &Service, max_services: u32) -> StoreResult<Service> {
        services::create_service(&self.pool, service, max_services).await
    }

    async fn service(&self, account_sid: &str, key: ServiceKey<'_>) -> StoreResult<Service> {
        services::service(&self.pool, account_sid, key).await
    }

    async fn list_services(
        &self,
        account_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Service>> {
        services::list_services(&self.pool, account_sid, page).await
    }

    async fn update_service(
        &self,
        sid: &str,
        patch: &ServicePatch,
        now: i64,
    ) -> StoreResult<Service> {
        services::update_service(&self.pool, sid, patch, now).await
    }

    async fn delete_service(&self, sid: &str) -> StoreResult<()> {
        services::delete_service(&self.pool, sid).await?;
        // This node's own caches hear it now, not a notification's trip later (as SQLite's
        // backend does); the environments' triggers tell every node.
        let _ = self.sites.send(SiteChange::All);
        Ok(())
    }

    async fn service_container(
        &self,
        account_sid: &str,
        key: ServiceKey<'_>,
        kind: ContainerKind,
        sid: &str,
    ) -> StoreResult<(Service, Container)> {
        self.lookups
            .service_container(account_sid, key, kind, sid)
            .await
    }

    async fn create_container(
        &self,
        kind: ContainerKind,
        container: &Container,
    ) -> StoreResult<Container> {
        containers::create_container(&self.pool, kind, container).await
    }

    async fn container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<Container> {
        containers::container(&self.pool, kind, service_sid, sid).await
    }

    async fn list_containers(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<std::sync::Arc<Page<Container>>> {
        containers::list_containers(&self.pool, kind, service_sid, page)
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
        let keys = (service_sid, sid);
        containers::rename_container(&self.pool, kind, keys, friendly_name, now).await
    }

    async fn delete_container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<()> {
        containers::delete_container(&self.pool, kind, service_sid, sid).await
    }

    async fn create_version(&self, kind: ContainerKind, version: &Version) -> StoreResult<Version> {
        containers::create_version(&self.pool, kind, version).await
    }

    async fn version(
        &self,
        kind: ContainerKind,
        container_sid: &str,
        sid: &str,
    ) -> StoreResult<Version> {
        containers::version(&self.pool, kind, container_sid, sid).await
    }

    async fn list_versions(
        &self,
        kind: ContainerKind,
        container_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Version>> {
        containers::list_versions(&self.pool, kind, container_sid, page).await
    }

    async fn referenced_blobs(&self) -> StoreResult<Vec<String>> {
        containers::referenced_blobs(&self.pool).await
    }

    async fn hold_blob(&self, sha256: &str, holder: &str, until: i64) -> StoreResult<bool> {
        claims::hold_blob(&self.pool, sha256, holder, until).await
    }

    async fn release_blob(&self, sha256: &str, holder: &str) -> StoreResult<()> {
        claims::release_blob(&self.pool, sha256, holder).await
    }

    async fn doom_blobs(&self, candidates: &[String], now: i64) -> StoreResult<Vec<String>> {
        claims::doom_blobs(&self.pool, candidates, now).await
    }

    async fn doomed_blobs(&self) -> StoreResult<Vec<String>> {
        claims::doomed_blobs(&self.pool).await
    }

    async fn clear_doomed(&self, sha256s: &[String]) -> StoreResult<()> {
        claims::clear_doomed(&self.pool, sha256s).await
    }

    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        claims::take_lease(&self.pool, name, holder, now, until).await
    }

    async fn versions_by_sid(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sids: &[String],
    ) -> StoreResult<Vec<Version>> {
        containers::versions_by_sid(&self.pool, kind, service_sid, sids).await
    }

    async fn create_environment(
        &self,
        environment: &Environment,
        max_environments: u32,
    ) -> StoreResult<Environment> {
        deploy::create_environment(&self.pool, environment, max_environments).await
    }

    async fn environment(&self, service_sid: &str, sid: &str) -> StoreResult<Environment> {
        deploy::environment(&self.pool, service_sid, sid).await
    }

    async fn list_environments(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Environment>> {
        deploy::list_environments(&self.pool, service_sid, page).await
    }

    async fn delete_environment(&self, service_sid: &str, sid: &str) -> StoreResult<()> {
        let domain = deploy::delete_environment(&self.pool, service_sid, sid).await?;
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
        builds::create_build(&self.pool, build, assets, functions, quota).await
    }

    async fn build(&self, service_sid: &str, sid: &str) -> StoreResult<BuildDetail> {
        builds::build(&self.pool, service_sid, sid).await
    }

    async fn list_builds(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<BuildDetail>> {
        builds::list_builds(&self.pool, service_sid, page).await
    }

    async fn claim_build(&self, holder: &str, now: i64, until: i64) -> StoreResult<Option<Build>> {
        claims::claim_build(&self.pool, holder, now, until).await
    }

    async fn renew_build_claim(&self, sid: &str, holder: &str, until: i64) -> StoreResult<bool> {
        claims::renew_build_claim(&self.pool, sid, holder, until).await
    }

    async fn finish_build(
        &self,
        sid: &str,
        status: BuildStatus,
        failure: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        builds::finish_build(&self.pool, sid, status, failure, now).await
    }

    async fn delete_build(&self, service_sid: &str, sid: &str) -> StoreResult<()> {
        builds::delete_build(&self.pool, service_sid, sid).await
    }

    async fn record_encoding(&self, encoded: &Encoded) -> StoreResult<()> {
        builds::record_encoding(&self.pool, encoded).await
    }

    async fn encodings(&self, sha256: &str) -> StoreResult<Vec<Encoded>> {
        builds::encodings(&self.pool, sha256).await
    }

    async fn create_deployment(&self, deployment: &Deployment) -> StoreResult<Deployment> {
        let (created, domain) = deploy::create_deployment(&self.pool, deployment).await?;
        // Heard here at once, so that this node's next request sees the deployment it made.
        let _ = self.sites.send(SiteChange::Domain(domain));
        Ok(created)
    }

    async fn deployment(&self, environment_sid: &str, sid: &str) -> StoreResult<Deployment> {
        deploy::deployment(&self.pool, environment_sid, sid).await
    }

    async fn list_deployments(
        &self,
        environment_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Deployment>> {
        deploy::list_deployments(&self.pool, environment_sid, page).await
    }

    async fn create_variable(&self, variable: &Variable) -> StoreResult<Variable> {
        deploy::create_variable(&self.pool, variable).await
    }

    async fn variable(&self, environment_sid: &str, sid: &str) -> StoreResult<Variable> {
        deploy::variable(&self.pool, environment_sid, sid).await
    }

    async fn list_variables(
        &self,
        environment_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Variable>> {
        deploy::list_variables(&self.pool, environment_sid, page).await
    }

    async fn update_variable(
        &self,
        environment_sid: &str,
        sid: &str,
        key: Option<&str>,
        value: Option<&str>,
        now: i64,
    ) -> StoreResult<Variable> {
        deploy::update_variable(&self.pool, (environment_sid, sid), key, value, now).await
    }

    async fn delete_variable(&self, environment_sid: &str, sid: &str) -> StoreResult<()> {
        deploy::delete_variable(&self.pool, environment_sid, sid).await
    }

    async fn create_log(&self, log: &Log) -> StoreResult<Log> {
        deploy::create_log(&self.pool, log).await
    }

    async fn log(&self, environment_sid: &str, sid: &str) -> StoreResult<Log> {
        deploy::log(&self.pool, environment_sid, sid).await
    }

    async fn list_logs(
        &self,
        environment_sid: &str,
        filter: &LogFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Log>> {
        deploy::list_logs(&self.pool, environment_sid, filter, page).await
    }

    async fn site(&self, domain_name: &str) -> StoreResult<Option<Site>> {
        site::site(&self.pool, domain_name).await
    }

    fn site_changes(&self) -> tokio::sync::broadcast::Receiver<SiteChange> {
        self.sites.subscribe()
    }

    async fn create_console_session(&self, session: &ConsoleSession, now: i64) -> StoreResult<()> {
        console::create_console_session(&self.pool, session, now).await
    }

    async fn console_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> StoreResult<Option<ConsoleSession>> {
        console::console_session(&self.pool, id_hash, now).await
    }

    async fn delete_console_session(&self, id_hash: &str) -> StoreResult<()> {
        console::delete_console_session(&self.pool, id_hash).await
    }

    async fn list_service_versions(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        max: u32,
    ) -> StoreResult<Vec<Version>> {
        console::list_service_versions(&self.pool, kind, service_sid, max).await
    }

    async fn list_build_rows(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Build>> {
        console::list_build_rows(&self.pool, service_sid, page).await
    }

    async fn prune(&self, prune: &Prune) -> StoreResult<Pruned> {
        upkeep::prune(&self.pool, prune).await
    }
}
