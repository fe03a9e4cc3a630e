//! A read-through cache in front of a store that exactly one depot process writes (the
//! embedded SQLite file). Every write goes through this process, so invalidating on write
//! keeps the cache exact; it must never wrap a database that several nodes share.
//!
//! Reads remember the cache generation before asking the store and only fill the cache if no
//! write happened meanwhile; writes bump the generation and evict after committing. A read
//! that raced a write therefore never leaves a stale entry behind.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use super::{
    Account, Build, BuildDetail, BuildQuota, Container, ContainerKind, Deployment, Encoded,
    Environment, Log, LogFilter, Page, PageRequest, Service, ServiceKey, ServicePatch, Site, Store,
    StoreResult, Variable, Version,
};

/// Entries per map before the map is emptied; bounds memory, not correctness.
const MAX_ENTRIES: usize = 50_000;

type ServiceCacheKey = (String, bool, String);

#[derive(Default)]
struct Maps {
    generation: u64,
    services: HashMap<ServiceCacheKey, Service>,
    /// What lives below each Service, by Service SID, so a write evicts one entry.
    scopes: HashMap<String, Scope>,
}

#[derive(Default)]
struct Scope {
    containers: HashMap<(ContainerKind, String), Container>,
    pages: HashMap<(ContainerKind, PageRequest), Arc<Page<Container>>>,
}

impl Maps {
    fn scope(&mut self, service_sid: &str) -> &mut Scope {
        if !self.scopes.contains_key(service_sid) && self.scopes.len() >= MAX_ENTRIES {
            self.scopes.clear();
        }
        self.scopes.entry(service_sid.to_owned()).or_default()
    }
}

/// The cache wrapper; see the module docs.
pub struct CachedStore<S> {
    inner: S,
    maps: RwLock<Maps>,
}

fn service_key(account_sid: &str, key: ServiceKey<'_>) -> ServiceCacheKey {
    match key {
        ServiceKey::Sid(sid) => (account_sid.to_owned(), false, sid.to_owned()),
        ServiceKey::UniqueName(name) => (account_sid.to_owned(), true, name.to_owned()),
    }
}

fn bounded_insert<K: Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

impl<S: Store> CachedStore<S> {
    pub fn new(inner: S) -> Self {
        CachedStore {
            inner,
            maps: RwLock::new(Maps::default()),
        }
    }

    fn generation(&self) -> Option<u64> {
        self.maps.read().ok().map(|m| m.generation)
    }

    fn lookup<T: Clone>(&self, pick: impl FnOnce(&Maps) -> Option<&T>) -> Option<T> {
        self.maps.read().ok().and_then(|m| pick(&m).cloned())
    }

    /// Stores a value read at `generation`, unless a write happened since.
    fn fill(&self, generation: Option<u64>, put: impl FnOnce(&mut Maps)) {
        if let (Some(generation), Ok(mut maps)) = (generation, self.maps.write()) {
            if maps.generation == generation {
                put(&mut maps);
            }
        }
    }

    /// Called after a write committed: no read that started before it may fill the cache.
    fn invalidate(&self, evict: impl FnOnce(&mut Maps)) {
        if let Ok(mut maps) = self.maps.write() {
            maps.generation += 1;
            evict(&mut maps);
        }
    }

    fn evict_service_children(maps: &mut Maps, service_sid: &str) {
        maps.scopes.remove(service_sid);
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

    async fn create_service(&self, service: &Service, max_services: u32) -> StoreResult<Service> {
        let created = self.inner.create_service(service, max_services).await?;
        // A failed lookup of this name may not be cached, but nothing negative is cached.
        self.invalidate(|_| {});
        Ok(created)
    }

    async fn service(&self, account_sid: &str, key: ServiceKey<'_>) -> StoreResult<Service> {
        let cache_key = service_key(account_sid, key);
        if let Some(hit) = self.lookup(|m| m.services.get(&cache_key)) {
            return Ok(hit);
        }
        let generation = self.generation();
        let service = self.inner.service(account_sid, key).await?;
        self.fill(generation, |m| {
            bounded_insert(&mut m.services, cache_key, service.clone())
        });
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
        self.invalidate(|m| m.services.clear());
        result
    }

    async fn delete_service(&self, sid: &str) -> StoreResult<()> {
        let result = self.inner.delete_service(sid).await;
        self.invalidate(|m| {
            m.services.clear();
            Self::evict_service_children(m, sid);
        });
        result
    }

    async fn create_container(
        &self,
        kind: ContainerKind,
        container: &Container,
    ) -> StoreResult<Container> {
        let result = self.inner.create_container(kind, container).await;
        self.invalidate(|m| Self::evict_service_children(m, &container.service_sid));
        result
    }

    async fn container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<Container> {
        let cache_key = (kind, sid.to_owned());
        let hit = self.lookup(|m| m.scopes.get(service_sid)?.containers.get(&cache_key));
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let generation = self.generation();
        let container = self.inner.container(kind, service_sid, sid).await?;
        self.fill(generation, |m| {
            let scope = m.scope(service_sid);
            bounded_insert(&mut scope.containers, cache_key, container.clone())
        });
        Ok(container)
    }

    async fn list_containers(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Arc<Page<Container>>> {
        let hit = self.lookup(|m| m.scopes.get(service_sid)?.pages.get(&(kind, page)));
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let generation = self.generation();
        let listed = self.inner.list_containers(kind, service_sid, page).await?;
        self.fill(generation, |m| {
            let scope = m.scope(service_sid);
            bounded_insert(&mut scope.pages, (kind, page), listed.clone())
        });
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
        self.invalidate(|m| Self::evict_service_children(m, service_sid));
        result
    }

    async fn delete_container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<()> {
        let result = self.inner.delete_container(kind, service_sid, sid).await;
        self.invalidate(|m| Self::evict_service_children(m, service_sid));
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

    async fn unfinished_builds(&self) -> StoreResult<Vec<Build>> {
        self.inner.unfinished_builds().await
    }

    async fn finish_build(
        &self,
        sid: &str,
        status: &str,
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

    async fn create_variable(&self, variable: &Variable) -> StoreResult<Variable> {
        self.inner.create_variable(variable).await
    }

    async fn variable(&self, environment_sid: &str, sid: &str) -> StoreResult<Variable> {
        self.inner.variable(environment_sid, sid).await
    }

    async fn list_variables(
        &self,
        environment_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Variable>> {
        self.inner.list_variables(environment_sid, page).await
    }

    async fn update_variable(
        &self,
        environment_sid: &str,
        sid: &str,
        key: Option<&str>,
        value: Option<&str>,
        now: i64,
    ) -> StoreResult<Variable> {
        self.inner
            .update_variable(environment_sid, sid, key, value, now)
            .await
    }

    async fn delete_variable(&self, environment_sid: &str, sid: &str) -> StoreResult<()> {
        self.inner.delete_variable(environment_sid, sid).await
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

    async fn site(&self, domain_name: &str) -> StoreResult<Option<Site>> {
        self.inner.site(domain_name).await
    }
}
