//! The embedded SQLite backend: WAL, `synchronous = FULL` (a commit is on disk before the
//! API answers), one writing connection behind a group-commit task (`writer`), and a
//! pool of readers that see every committed write.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::ConnectOptions;

mod accounts;
mod builds;
mod claims;
mod console;
mod containers;
mod deployments;
mod environments;
mod errors;
mod listing;
mod logs;
mod services;
mod site;
mod upkeep;
mod variables;
mod writer;

use errors::backend;

use crate::store::paging::{Page, PageRequest};
use crate::store::{
    Account, AccountFilter, AccountPatch, AccountRecord, AccountScope, ApiKey, Build, BuildDetail,
    BuildQuota, BuildStatus, ConsoleSession, Container, ContainerKind, Deployment, Encoded,
    Environment, Log, LogFilter, Prune, Pruned, Service, ServiceKey, ServicePatch, Site,
    SiteChange, Store, StoreResult, Variable, Version,
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
        // One process owns the file, so a claim found now was its predecessor's, cut short by
        // a stop or crash: the builds go back to whoever claims them first, without waiting
        // for the claims to lapse.
        sqlx::query(
            "UPDATE builds SET claimed_by = NULL, claim_until = NULL \
             WHERE claimed_by IS NOT NULL",
        )
        .execute(&mut conn)
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

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_account(&self, account: &Account) -> StoreResult<()> {
        services::upsert_account(&self.writer, account).await
    }

    async fn account(&self, sid: &str) -> StoreResult<Option<Account>> {
        services::account(&self.readers, sid).await
    }

    async fn first_account(&self) -> StoreResult<Option<Account>> {
        services::first_account(&self.readers).await
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        services::list_accounts(&self.readers).await
    }

    async fn create_account(&self, account: &AccountRecord) -> StoreResult<AccountRecord> {
        accounts::create_account(&self.writer, account).await
    }

    async fn account_record(&self, sid: &str) -> StoreResult<Option<AccountRecord>> {
        accounts::account_record(&self.readers, sid).await
    }

    async fn list_account_records(
        &self,
        scope: AccountScope<'_>,
        filter: &AccountFilter<'_>,
        page: PageRequest,
    ) -> StoreResult<Page<AccountRecord>> {
        accounts::list_account_records(&self.readers, scope, filter, page).await
    }

    async fn update_account(
        &self,
        sid: &str,
        patch: &AccountPatch,
        now: i64,
    ) -> StoreResult<AccountRecord> {
        accounts::update_account(&self.writer, sid, patch, now).await
    }

    async fn create_key(&self, key: &ApiKey) -> StoreResult<ApiKey> {
        accounts::create_key(&self.writer, key).await
    }

    async fn key(&self, account_sid: &str, sid: &str) -> StoreResult<ApiKey> {
        accounts::key(&self.readers, account_sid, sid).await
    }

    async fn key_for_auth(&self, sid: &str) -> StoreResult<Option<ApiKey>> {
        accounts::key_for_auth(&self.readers, sid).await
    }

    async fn list_keys(&self, account_sid: &str, page: PageRequest) -> StoreResult<Page<ApiKey>> {
        accounts::list_keys(&self.readers, account_sid, page).await
    }

    async fn rename_key(
        &self,
        account_sid: &str,
        sid: &str,
        friendly_name: Option<&str>,
        now: i64,
    ) -> StoreResult<ApiKey> {
        accounts::rename_key(&self.writer, (account_sid, sid), friendly_name, now).await
    }

    async fn delete_key(&self, account_sid: &str, sid: &str) -> StoreResult<()> {
        accounts::delete_key(&self.writer, account_sid, sid).await
    }

    async fn create_service(&self, service: &Service, max_services: u32) -> StoreResult<Service> {
        services::create_service(&self.writer, service, max_services).await
    }

    async fn service(&self, account_sid: &str, key: ServiceKey<'_>) -> StoreResult<Service> {
        services::service(&self.readers, account_sid, key).await
    }

    async fn list_services(
        &self,
        account_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Service>> {
        services::list_services(&self.readers, account_sid, page).await
    }

    async fn update_service(
        &self,
        sid: &str,
        patch: &ServicePatch,
        now: i64,
    ) -> StoreResult<Service> {
        services::update_service(&self.writer, sid, patch, now).await
    }

    async fn delete_service(&self, sid: &str) -> StoreResult<()> {
        services::delete_service(&self.writer, sid).await?;
        let _ = self.sites.send(SiteChange::All);
        Ok(())
    }

    async fn create_container(
        &self,
        kind: ContainerKind,
        container: &Container,
    ) -> StoreResult<Container> {
        containers::create_container(&self.writer, kind, container).await
    }

    async fn container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<Container> {
        containers::container(&self.readers, kind, service_sid, sid).await
    }

    async fn list_containers(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<std::sync::Arc<Page<Container>>> {
        containers::list_containers(&self.readers, kind, service_sid, page).await
    }

    async fn rename_container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
        friendly_name: &str,
        now: i64,
    ) -> StoreResult<Container> {
        containers::rename_container(&self.writer, kind, service_sid, sid, friendly_name, now).await
    }

    async fn delete_container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<()> {
        containers::delete_container(&self.writer, kind, service_sid, sid).await
    }

    async fn create_version(&self, kind: ContainerKind, version: &Version) -> StoreResult<Version> {
        containers::create_version(&self.writer, kind, version).await
    }

    async fn version(
        &self,
        kind: ContainerKind,
        container_sid: &str,
        sid: &str,
    ) -> StoreResult<Version> {
        containers::version(&self.readers, kind, container_sid, sid).await
    }

    async fn list_versions(
        &self,
        kind: ContainerKind,
        container_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Version>> {
        containers::list_versions(&self.readers, kind, container_sid, page).await
    }

    async fn referenced_blobs(&self) -> StoreResult<Vec<String>> {
        containers::referenced_blobs(&self.readers).await
    }

    async fn versions_by_sid(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sids: &[String],
    ) -> StoreResult<Vec<Version>> {
        containers::versions_by_sid(&self.readers, kind, service_sid, sids).await
    }

    async fn create_environment(
        &self,
        environment: &Environment,
        max_environments: u32,
    ) -> StoreResult<Environment> {
        environments::create_environment(&self.writer, environment, max_environments).await
    }

    async fn environment(&self, service_sid: &str, sid: &str) -> StoreResult<Environment> {
        environments::environment(&self.readers, service_sid, sid).await
    }

    async fn list_environments(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Environment>> {
        environments::list_environments(&self.readers, service_sid, page).await
    }

    async fn delete_environment(&self, service_sid: &str, sid: &str) -> StoreResult<()> {
        let domain = environments::delete_environment(&self.writer, service_sid, sid).await?;
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
        builds::create_build(&self.writer, build, assets, functions, quota).await
    }

    async fn build(&self, service_sid: &str, sid: &str) -> StoreResult<BuildDetail> {
        builds::build(&self.readers, service_sid, sid).await
    }

    async fn list_builds(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<BuildDetail>> {
        builds::list_builds(&self.readers, service_sid, page).await
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
        builds::finish_build(&self.writer, sid, status, failure, now).await
    }

    async fn delete_build(&self, service_sid: &str, sid: &str) -> StoreResult<()> {
        builds::delete_build(&self.writer, service_sid, sid).await
    }

    async fn record_encoding(&self, encoded: &Encoded) -> StoreResult<()> {
        builds::record_encoding(&self.writer, encoded).await
    }

    async fn encodings(&self, sha256: &str) -> StoreResult<Vec<Encoded>> {
        builds::encodings(&self.readers, sha256).await
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

    async fn create_console_session(&self, session: &ConsoleSession, now: i64) -> StoreResult<()> {
        console::create_console_session(&self.writer, session, now).await
    }

    async fn console_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> StoreResult<Option<ConsoleSession>> {
        console::console_session(&self.readers, id_hash, now).await
    }

    async fn delete_console_session(&self, id_hash: &str) -> StoreResult<()> {
        console::delete_console_session(&self.writer, id_hash).await
    }

    async fn list_service_versions(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        max: u32,
    ) -> StoreResult<Vec<Version>> {
        console::list_service_versions(&self.readers, kind, service_sid, max).await
    }

    async fn list_build_rows(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Build>> {
        console::list_build_rows(&self.readers, service_sid, page).await
    }

    async fn prune(&self, prune: &Prune) -> StoreResult<Pruned> {
        upkeep::prune(&self.writer, &self.readers, prune).await
    }

    async fn create_deployment(&self, deployment: &Deployment) -> StoreResult<Deployment> {
        let (created, domain) = deployments::create_deployment(&self.writer, deployment).await?;
        let _ = self.sites.send(SiteChange::Domain(domain));
        Ok(created)
    }

    async fn deployment(&self, environment_sid: &str, sid: &str) -> StoreResult<Deployment> {
        deployments::deployment(&self.readers, environment_sid, sid).await
    }

    async fn list_deployments(
        &self,
        environment_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Deployment>> {
        deployments::list_deployments(&self.readers, environment_sid, page).await
    }

    async fn create_variable(&self, variable: &Variable) -> StoreResult<Variable> {
        variables::create_variable(&self.writer, variable).await
    }

    async fn variable(&self, environment_sid: &str, sid: &str) -> StoreResult<Variable> {
        variables::variable(&self.readers, environment_sid, sid).await
    }

    async fn list_variables(
        &self,
        environment_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Variable>> {
        variables::list_variables(&self.readers, environment_sid, page).await
    }

    async fn update_variable(
        &self,
        environment_sid: &str,
        sid: &str,
        key: Option<&str>,
        value: Option<&str>,
        now: i64,
    ) -> StoreResult<Variable> {
        variables::update_variable(&self.writer, (environment_sid, sid), key, value, now).await
    }

    async fn delete_variable(&self, environment_sid: &str, sid: &str) -> StoreResult<()> {
        variables::delete_variable(&self.writer, environment_sid, sid).await
    }

    async fn create_log(&self, log: &Log) -> StoreResult<Log> {
        logs::create_log(&self.writer, log).await
    }

    async fn log(&self, environment_sid: &str, sid: &str) -> StoreResult<Log> {
        logs::log(&self.readers, environment_sid, sid).await
    }

    async fn list_logs(
        &self,
        environment_sid: &str,
        filter: &LogFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Log>> {
        logs::list_logs(&self.readers, environment_sid, filter, page).await
    }

    async fn site(&self, domain_name: &str) -> StoreResult<Option<Site>> {
        site::site(&self.readers, domain_name).await
    }

    fn site_changes(&self) -> tokio::sync::broadcast::Receiver<SiteChange> {
        self.sites.subscribe()
    }
}
