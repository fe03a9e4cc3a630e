//! A read-through cache in front of a store that exactly one depot process writes (the
//! embedded SQLite file). Every write goes through this process, so invalidating on write
//! keeps the cache exact; it must never wrap a database that several nodes share.
//!
//! Entries are keyed by an epoch: one for all Services, and one per Service for what lives
//! below it. A read takes the epoch before asking the store and files its answer under it; a
//! write, once committed, moves the epoch to a fresh number, so everything filed before (and
//! every read that raced the write) becomes unreachable and ages out. The cache is bounded by
//! bytes and evicts what is used least.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use quick_cache::Equivalent;

use super::{
    Account, AccountFilter, AccountPatch, AccountRecord, AccountScope, ApiKey, Build, BuildDetail,
    BuildQuota, BuildStatus, ConsoleSession, Container, ContainerKind, Deployment, Encoded,
    Environment, Log, LogFilter, Page, PageRequest, Service, ServiceKey, ServicePatch, Site,
    SiteChange, Store, StoreResult, Variable, Version,
};

/// What the cache holds, by owned key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Service(u64, String, bool, String),
    Container(u64, ContainerKind, String),
    Page(u64, ContainerKind, PageRequest),
    Variables(u64, String, PageRequest),
}

/// The same keys, borrowed, so that a hit allocates nothing.
#[derive(Clone, Copy)]
enum Lookup<'a> {
    Service(u64, &'a str, bool, &'a str),
    Container(u64, ContainerKind, &'a str),
    Page(u64, ContainerKind, PageRequest),
    Variables(u64, &'a str, PageRequest),
}

impl Lookup<'_> {
    fn to_owned(self) -> Key {
        match self {
            Lookup::Service(e, a, n, k) => Key::Service(e, a.to_owned(), n, k.to_owned()),
            Lookup::Container(e, kind, sid) => Key::Container(e, kind, sid.to_owned()),
            Lookup::Page(e, kind, page) => Key::Page(e, kind, page),
            Lookup::Variables(e, env, page) => Key::Variables(e, env.to_owned(), page),
        }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Key::Service(e, a, n, k) => Lookup::Service(*e, a, *n, k).hash(state),
            Key::Container(e, kind, sid) => Lookup::Container(*e, *kind, sid).hash(state),
            Key::Page(e, kind, page) => Lookup::Page(*e, *kind, *page).hash(state),
            Key::Variables(e, env, page) => Lookup::Variables(*e, env, *page).hash(state),
        }
    }
}

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match *self {
            Lookup::Service(e, a, n, k) => (0u8, e, a, n, k).hash(state),
            Lookup::Container(e, kind, sid) => (1u8, e, kind, sid).hash(state),
            Lookup::Page(e, kind, page) => (2u8, e, kind, page).hash(state),
            Lookup::Variables(e, env, page) => (3u8, e, env, page).hash(state),
        }
    }
}

impl Equivalent<Key> for Lookup<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        match (*self, key) {
            (Lookup::Service(e, a, n, k), Key::Service(e2, a2, n2, k2)) => {
                e == *e2 && n == *n2 && a == a2 && k == k2
            }
            (Lookup::Container(e, kind, sid), Key::Container(e2, kind2, sid2)) => {
                e == *e2 && kind == *kind2 && sid == sid2
            }
            (Lookup::Page(e, kind, page), Key::Page(e2, kind2, page2)) => {
                e == *e2 && kind == *kind2 && page == *page2
            }
            (Lookup::Variables(e, env, page), Key::Variables(e2, env2, page2)) => {
                e == *e2 && env == env2 && page == *page2
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
enum Value {
    Service(Service),
    Container(Container),
    Page(Arc<Page<Container>>),
    Variables(Arc<Page<Variable>>),
}

#[derive(Clone)]
struct Weight;

/// Bytes an entry costs beyond its strings.
const ENTRY_OVERHEAD: u64 = 160;

fn container_bytes(c: &Container) -> u64 {
    ENTRY_OVERHEAD
        + (c.sid.len() + c.account_sid.len() + c.service_sid.len() + c.friendly_name.len()) as u64
}

impl quick_cache::Weighter<Key, Value> for Weight {
    fn weight(&self, key: &Key, value: &Value) -> u64 {
        let key_bytes = match key {
            Key::Service(_, a, _, k) => (a.len() + k.len()) as u64,
            Key::Container(_, _, sid) => sid.len() as u64,
            Key::Page(..) => 0,
            Key::Variables(_, env, _) => env.len() as u64,
        };
        let value_bytes = match value {
            Value::Service(s) => {
                ENTRY_OVERHEAD
                    + (s.sid.len() + s.account_sid.len() + s.friendly_name.len()) as u64
                    + (s.unique_name.len() + s.domain_base.len()) as u64
            }
            Value::Container(c) => container_bytes(c),
            Value::Page(page) => {
                ENTRY_OVERHEAD + page.items.iter().map(container_bytes).sum::<u64>()
            }
            Value::Variables(page) => {
                ENTRY_OVERHEAD
                    + page
                        .items
                        .iter()
                        .map(|v| {
                            ENTRY_OVERHEAD + (v.sid.len() + v.key.len() + v.value.len()) as u64
                        })
                        .sum::<u64>()
            }
        };
        key_bytes + value_bytes
    }
}

/// The cache wrapper; see the module docs.
pub struct CachedStore<S> {
    inner: S,
    entries: quick_cache::sync::Cache<Key, Value, Weight>,
    /// Epochs of each Service's children, by Service SID.
    scopes: quick_cache::sync::Cache<String, u64>,
    services_epoch: AtomicU64,
    next_epoch: AtomicU64,
}

/// Service epochs remembered; a forgotten one is simply replaced by a fresh one.
const MAX_SCOPES: usize = 100_000;

impl<S: Store> CachedStore<S> {
    /// A cache of at most `bytes` in front of `inner`.
    pub fn new(inner: S, bytes: u64) -> Self {
        let bytes = bytes.max(64 << 10);
        CachedStore {
            inner,
            entries: quick_cache::sync::Cache::with_weighter(
                usize::try_from(bytes / 1024).unwrap_or(usize::MAX).max(16),
                bytes,
                Weight,
            ),
            scopes: quick_cache::sync::Cache::new(MAX_SCOPES),
            services_epoch: AtomicU64::new(1),
            next_epoch: AtomicU64::new(2),
        }
    }

    fn fresh_epoch(&self) -> u64 {
        self.next_epoch.fetch_add(1, Ordering::Relaxed)
    }

    /// The epoch of `service_sid`'s children, made fresh if none is remembered.
    fn scope(&self, service_sid: &str) -> u64 {
        if let Some(epoch) = self.scopes.get(service_sid) {
            return epoch;
        }
        let epoch = self.fresh_epoch();
        self.scopes.insert(service_sid.to_owned(), epoch);
        epoch
    }

    /// Called after a write to `service_sid`'s children committed.
    fn invalidate_scope(&self, service_sid: &str) {
        self.scopes
            .insert(service_sid.to_owned(), self.fresh_epoch());
    }

    /// Called after a write to any Service committed.
    fn invalidate_services(&self) {
        self.services_epoch
            .store(self.fresh_epoch(), Ordering::Release);
    }
}

#[async_trait]
impl<S: Store> Store for CachedStore<S> {
    async fn upsert_account(&self, account: &Account) -> StoreResult<()> {
        self.inner.upsert_account(account).await
    }

    async fn account(&self, sid: &str) -> StoreResult<Option<Account>> {
        self.inner.account(sid).await
    }

    async fn first_account(&self) -> StoreResult<Option<Account>> {
        self.inner.first_account().await
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        self.inner.list_accounts().await
    }

    // Accounts and keys pass through: authentication keeps its own short-lived account cache,
    // and keys are read from the database on every use.
    async fn create_account(&self, account: &AccountRecord) -> StoreResult<AccountRecord> {
        self.inner.create_account(account).await
    }

    async fn account_record(&self, sid: &str) -> StoreResult<Option<AccountRecord>> {
        self.inner.account_record(sid).await
    }

    async fn list_account_records(
        &self,
        scope: AccountScope<'_>,
        filter: &AccountFilter<'_>,
        page: PageRequest,
    ) -> StoreResult<Page<AccountRecord>> {
        self.inner.list_account_records(scope, filter, page).await
    }

    async fn update_account(
        &self,
        sid: &str,
        patch: &AccountPatch,
        now: i64,
    ) -> StoreResult<AccountRecord> {
        self.inner.update_account(sid, patch, now).await
    }

    async fn create_key(&self, key: &ApiKey) -> StoreResult<ApiKey> {
        self.inner.create_key(key).await
    }

    async fn key(&self, account_sid: &str, sid: &str) -> StoreResult<ApiKey> {
        self.inner.key(account_sid, sid).await
    }

    async fn key_for_auth(&self, sid: &str) -> StoreResult<Option<ApiKey>> {
        self.inner.key_for_auth(sid).await
    }

    async fn list_keys(&self, account_sid: &str, page: PageRequest) -> StoreResult<Page<ApiKey>> {
        self.inner.list_keys(account_sid, page).await
    }

    async fn rename_key(
        &self,
        account_sid: &str,
        sid: &str,
        friendly_name: Option<&str>,
        now: i64,
    ) -> StoreResult<ApiKey> {
        self.inner
            .rename_key(account_sid, sid, friendly_name, now)
            .await
    }

    async fn delete_key(&self, account_sid: &str, sid: &str) -> StoreResult<()> {
        self.inner.delete_key(account_sid, sid).await
    }

    async fn create_service(&self, service: &Service, max_services: u32) -> StoreResult<Service> {
        // Nothing negative is cached, so a new Service invalidates nothing.
        self.inner.create_service(service, max_services).await
    }

    async fn service(&self, account_sid: &str, key: ServiceKey<'_>) -> StoreResult<Service> {
        let epoch = self.services_epoch.load(Ordering::Acquire);
        let lookup = match key {
            ServiceKey::Sid(sid) => Lookup::Service(epoch, account_sid, false, sid),
            ServiceKey::UniqueName(name) => Lookup::Service(epoch, account_sid, true, name),
        };
        if let Some(Value::Service(hit)) = self.entries.get(&lookup) {
            return Ok(hit);
        }
        let service = self.inner.service(account_sid, key).await?;
        self.entries
            .insert(lookup.to_owned(), Value::Service(service.clone()));
        Ok(service)
    }

    async fn list_services(
        &self,
        account_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Service>> {
        self.inner.list_services(account_sid, page).await
    }

    async fn update_service(
        &self,
        sid: &str,
        patch: &ServicePatch,
        now: i64,
    ) -> StoreResult<Service> {
        let result = self.inner.update_service(sid, patch, now).await;
        self.invalidate_services();
        result
    }

    async fn delete_service(&self, sid: &str) -> StoreResult<()> {
        let result = self.inner.delete_service(sid).await;
        self.invalidate_services();
        self.invalidate_scope(sid);
        result
    }

    async fn create_container(
        &self,
        kind: ContainerKind,
        container: &Container,
    ) -> StoreResult<Container> {
        let result = self.inner.create_container(kind, container).await;
        self.invalidate_scope(&container.service_sid);
        result
    }

    async fn container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<Container> {
        let lookup = Lookup::Container(self.scope(service_sid), kind, sid);
        if let Some(Value::Container(hit)) = self.entries.get(&lookup) {
            return Ok(hit);
        }
        let container = self.inner.container(kind, service_sid, sid).await?;
        self.entries
            .insert(lookup.to_owned(), Value::Container(container.clone()));
        Ok(container)
    }

    async fn list_containers(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Arc<Page<Container>>> {
        let lookup = Lookup::Page(self.scope(service_sid), kind, page);
        if let Some(Value::Page(hit)) = self.entries.get(&lookup) {
            return Ok(hit);
        }
        let listed = self.inner.list_containers(kind, service_sid, page).await?;
        self.entries
            .insert(lookup.to_owned(), Value::Page(listed.clone()));
        Ok(listed)
    }

    async fn rename_container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
        friendly_name: &str,
        now: i64,
    ) -> StoreResult<Container> {
        let result = self
            .inner
            .rename_container(kind, service_sid, sid, friendly_name, now)
            .await;
        self.invalidate_scope(service_sid);
        result
    }

    async fn delete_container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<()> {
        let result = self.inner.delete_container(kind, service_sid, sid).await;
        self.invalidate_scope(service_sid);
        result
    }

    async fn create_version(&self, kind: ContainerKind, version: &Version) -> StoreResult<Version> {
        self.inner.create_version(kind, version).await
    }

    async fn version(
        &self,
        kind: ContainerKind,
        container_sid: &str,
        sid: &str,
    ) -> StoreResult<Version> {
        self.inner.version(kind, container_sid, sid).await
    }

    async fn list_versions(
        &self,
        kind: ContainerKind,
        container_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Version>> {
        self.inner.list_versions(kind, container_sid, page).await
    }

    async fn referenced_blobs(&self) -> StoreResult<Vec<String>> {
        self.inner.referenced_blobs().await
    }

    async fn versions_by_sid(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sids: &[String],
    ) -> StoreResult<Vec<Version>> {
        self.inner.versions_by_sid(kind, service_sid, sids).await
    }

    async fn create_environment(
        &self,
        environment: &Environment,
        max_environments: u32,
    ) -> StoreResult<Environment> {
        self.inner
            .create_environment(environment, max_environments)
            .await
    }

    async fn environment(&self, service_sid: &str, sid: &str) -> StoreResult<Environment> {
        self.inner.environment(service_sid, sid).await
    }

    async fn list_environments(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Environment>> {
        self.inner.list_environments(service_sid, page).await
    }

    async fn delete_environment(&self, service_sid: &str, sid: &str) -> StoreResult<()> {
        self.inner.delete_environment(service_sid, sid).await
    }

    async fn create_build(
        &self,
        build: &Build,
        assets: &[String],
        functions: &[String],
        quota: BuildQuota,
    ) -> StoreResult<Build> {
        self.inner
            .create_build(build, assets, functions, quota)
            .await
    }

    async fn build(&self, service_sid: &str, sid: &str) -> StoreResult<BuildDetail> {
        self.inner.build(service_sid, sid).await
    }

    async fn list_builds(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<BuildDetail>> {
        self.inner.list_builds(service_sid, page).await
    }

    async fn claim_build(&self, holder: &str, now: i64, until: i64) -> StoreResult<Option<Build>> {
        // Claims change no field the cache holds (status changes only when a build finishes).
        self.inner.claim_build(holder, now, until).await
    }

    async fn renew_build_claim(&self, sid: &str, holder: &str, until: i64) -> StoreResult<bool> {
        self.inner.renew_build_claim(sid, holder, until).await
    }

    async fn finish_build(
        &self,
        sid: &str,
        status: BuildStatus,
        failure: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        self.inner.finish_build(sid, status, failure, now).await
    }

    async fn delete_build(&self, service_sid: &str, sid: &str) -> StoreResult<()> {
        self.inner.delete_build(service_sid, sid).await
    }

    async fn record_encoding(&self, encoded: &Encoded) -> StoreResult<()> {
        self.inner.record_encoding(encoded).await
    }

    async fn encodings(&self, sha256: &str) -> StoreResult<Vec<Encoded>> {
        self.inner.encodings(sha256).await
    }

    async fn hold_blob(&self, sha256: &str, holder: &str, until: i64) -> StoreResult<bool> {
        self.inner.hold_blob(sha256, holder, until).await
    }

    async fn release_blob(&self, sha256: &str, holder: &str) -> StoreResult<()> {
        self.inner.release_blob(sha256, holder).await
    }

    async fn doom_blobs(&self, candidates: &[String], now: i64) -> StoreResult<Vec<String>> {
        self.inner.doom_blobs(candidates, now).await
    }

    async fn doomed_blobs(&self) -> StoreResult<Vec<String>> {
        self.inner.doomed_blobs().await
    }

    async fn clear_doomed(&self, sha256s: &[String]) -> StoreResult<()> {
        self.inner.clear_doomed(sha256s).await
    }

    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        self.inner.take_lease(name, holder, now, until).await
    }

    async fn create_console_session(&self, session: &ConsoleSession, now: i64) -> StoreResult<()> {
        self.inner.create_console_session(session, now).await
    }

    async fn console_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> StoreResult<Option<ConsoleSession>> {
        self.inner.console_session(id_hash, now).await
    }

    async fn delete_console_session(&self, id_hash: &str) -> StoreResult<()> {
        self.inner.delete_console_session(id_hash).await
    }

    async fn list_service_versions(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        max: u32,
    ) -> StoreResult<Vec<Version>> {
        self.inner
            .list_service_versions(kind, service_sid, max)
            .await
    }

    async fn list_build_rows(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Build>> {
        self.inner.list_build_rows(service_sid, page).await
    }

    async fn prune(&self, prune: &super::Prune) -> StoreResult<super::Pruned> {
        self.inner.prune(prune).await
    }

    async fn create_deployment(&self, deployment: &Deployment) -> StoreResult<Deployment> {
        self.inner.create_deployment(deployment).await
    }

    async fn deployment(&self, environment_sid: &str, sid: &str) -> StoreResult<Deployment> {
        self.inner.deployment(environment_sid, sid).await
    }

    async fn list_deployments(
        &self,
        environment_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Deployment>> {
        self.inner.list_deployments(environment_sid, page).await
    }

    // Variables are read on every function invocation (its `context`), so their pages are
    // cached under the Environment's own epoch, which every Variable write moves.
    async fn create_variable(&self, variable: &Variable) -> StoreResult<Variable> {
        let result = self.inner.create_variable(variable).await;
        self.invalidate_scope(&variable.environment_sid);
        result
    }

    async fn variable(&self, environment_sid: &str, sid: &str) -> StoreResult<Variable> {
        self.inner.variable(environment_sid, sid).await
    }

    async fn list_variables(
        &self,
        environment_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Variable>> {
        let lookup = Lookup::Variables(self.scope(environment_sid), environment_sid, page);
        if let Some(Value::Variables(hit)) = self.entries.get(&lookup) {
            return Ok(Page::clone(&hit));
        }
        let listed = self.inner.list_variables(environment_sid, page).await?;
        self.entries.insert(
            lookup.to_owned(),
            Value::Variables(Arc::new(listed.clone())),
        );
        Ok(listed)
    }

    async fn update_variable(
        &self,
        environment_sid: &str,
        sid: &str,
        key: Option<&str>,
        value: Option<&str>,
        now: i64,
    ) -> StoreResult<Variable> {
        let result = self
            .inner
            .update_variable(environment_sid, sid, key, value, now)
            .await;
        self.invalidate_scope(environment_sid);
        result
    }

    async fn delete_variable(&self, environment_sid: &str, sid: &str) -> StoreResult<()> {
        let result = self.inner.delete_variable(environment_sid, sid).await;
        self.invalidate_scope(environment_sid);
        result
    }

    async fn create_log(&self, log: &Log) -> StoreResult<Log> {
        self.inner.create_log(log).await
    }

    async fn log(&self, environment_sid: &str, sid: &str) -> StoreResult<Log> {
        self.inner.log(environment_sid, sid).await
    }

    async fn list_logs(
        &self,
        environment_sid: &str,
        filter: &LogFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Log>> {
        self.inner.list_logs(environment_sid, filter, page).await
    }

    fn site_changes(&self) -> tokio::sync::broadcast::Receiver<SiteChange> {
        self.inner.site_changes()
    }

    async fn site(&self, domain_name: &str) -> StoreResult<Option<Site>> {
        self.inner.site(domain_name).await
    }
}
