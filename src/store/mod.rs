//! The storage interface every backend implements, and the records it holds.
//!
//! Each method is one unit of work with its own transaction; callers never see one. Several
//! depot nodes may share one database, so correctness comes from constraints and transactions,
//! never from in-process locks.

use async_trait::async_trait;

mod cache;
mod kinds;
pub(crate) mod listing;
pub mod paging;
mod postgres;
mod records;
mod sqlite;
mod tables;

#[cfg(test)]
mod conformance;

pub use kinds::{AccountStatus, BuildStatus, Named, Visibility};
pub use paging::{Cursor, Page, PageRequest};
pub use postgres::{postgres_test_schema, PgStore, TestSchema};
pub use records::*;
pub use sqlite::SqliteStore;

/// Failures a store reports; each backend maps its own errors onto these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; the tag names which (see [`Unique`]).
    #[error("conflict on {0:?}")]
    Conflict(Unique),
    /// A count limit (such as services per account) would be exceeded.
    #[error("limit reached")]
    LimitReached,
    /// A rate limit: try again after this many seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The operation conflicts with the state of another row (named by its SID).
    #[error("in use by {0}")]
    InUse(String),
    /// A build that is not `completed` cannot be deployed.
    #[error("build not completed")]
    NotCompleted,
    /// The database cannot be reached (or has no connection free): a 503, not a fault.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("storage backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The uniqueness rules the schema enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    ServiceUniqueName,
    ServiceDomainBase,
    EnvironmentName,
    EnvironmentDomain,
    VariableKey,
    Other,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An account and its secret, used for HTTP Basic authentication.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub sid: String,
    pub auth_token: String,
}

impl AccountRecord {
    /// The credentials part, as authentication and existing callers use it.
    pub fn credentials(&self) -> Account {
        Account {
            sid: self.sid.clone(),
            auth_token: self.auth_token.clone(),
        }
    }
}

/// An account with everything the 2010 API shows (COMPAT §16.2). `owner_account_sid` is
/// `None` for a main (bootstrap) account, the parent's SID for a subaccount.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct AccountRecord {
    pub seq: i64,
    pub sid: String,
    /// Stored as it is: the asset host needs it to check request signatures.
    pub auth_token: String,
    pub friendly_name: String,
    pub status: AccountStatus,
    pub owner_account_sid: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// Never shows the auth token, so a record logged by mistake leaks nothing.
impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRecord")
            .field("seq", &self.seq)
            .field("sid", &self.sid)
            .field("auth_token", &"<redacted>")
            .field("friendly_name", &self.friendly_name)
            .field("status", &self.status)
            .field("owner_account_sid", &self.owner_account_sid)
            .field("date_created", &self.date_created)
            .field("date_updated", &self.date_updated)
            .finish()
    }
}

/// Fields of an account to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub friendly_name: Option<String>,
    /// A `closed` account stays closed whatever this says (the store enforces it).
    pub status: Option<AccountStatus>,
}

/// Which accounts a list covers.
#[derive(Debug, Clone, Copy)]
pub enum AccountScope<'a> {
    /// This main account and the subaccounts it owns.
    Family(&'a str),
    /// This account alone.
    Only(&'a str),
}

/// List filters (COMPAT §16.3); `None` matches everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountFilter<'a> {
    pub friendly_name: Option<&'a str>,
    pub status: Option<AccountStatus>,
}

/// An API key (COMPAT §16.2). The secret itself is never stored, only its SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApiKey {
    pub seq: i64,
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: Option<String>,
    pub secret_hash: String,
    pub date_created: i64,
    pub date_updated: i64,
}

/// A Service row (COMPAT §5.1).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Service {
    pub seq: i64,
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: String,
    pub unique_name: String,
    pub include_credentials: bool,
    pub ui_editable: bool,
    pub domain_base: String,
    pub date_created: i64,
    pub date_updated: i64,
}

/// Fields of a Service to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServicePatch {
    pub friendly_name: Option<String>,
    pub include_credentials: Option<bool>,
    pub ui_editable: Option<bool>,
}

/// Assets and Functions are the same kind of record, a named holder of versions, kept in
/// two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    Asset,
    Function,
}

/// An Asset or a Function row (COMPAT §5.4, §5.7).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Container {
    pub seq: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub friendly_name: String,
    pub date_created: i64,
    pub date_updated: i64,
}

/// An Asset Version or a Function Version row (COMPAT §5.5, §5.8). `container_sid` is the
/// Asset or Function it belongs to.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Version {
    pub seq: i64,
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub container_sid: String,
    /// Normalised path, always starting with `/`.
    pub path: String,
    pub visibility: Visibility,
    pub content_type: String,
    pub size: i64,
    /// Hex SHA-256 of the content: its key in the blob store.
    pub sha256: String,
    pub date_created: i64,
}

/// A signed-in browser session of the console. The cookie carries a random secret; only its
/// SHA-256 (`id_hash`) is stored. `csrf_token` is what every form of the session must echo.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct ConsoleSession {
    pub id_hash: String,
    pub account_sid: String,
    /// The API key signed in with, when it was a key rather than the auth token.
    pub key_sid: Option<String>,
    pub csrf_token: String,
    pub date_created: i64,
    pub expires: i64,
}

/// Shows neither the hash nor the CSRF token.
impl std::fmt::Debug for ConsoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSession")
            .field("account_sid", &self.account_sid)
            .field("key_sid", &self.key_sid)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Rows that know their position in list order: the keyset that page tokens point into.
pub trait Positioned {
    fn seq(&self) -> i64;
}

macro_rules! positioned {
    ($($row:ty),*) => {
        $(impl Positioned for $row {
            fn seq(&self) -> i64 {
                self.seq
            }
        })*
    };
}

positioned!(
    AccountRecord,
    ApiKey,
    Service,
    Container,
    Version,
    Environment,
    Build,
    Deployment,
    Variable,
    Log
);

impl Positioned for BuildDetail {
    fn seq(&self) -> i64 {
        self.build.seq
    }
}

/// How a path addresses a Service: by SID or by unique name (COMPAT §2.6).
#[derive(Debug, Clone, Copy)]
pub enum ServiceKey<'a> {
    Sid(&'a str),
    UniqueName(&'a str),
}

/// The storage operations depot needs. Object-safe so handlers hold `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the account or replaces its auth token.
    async fn upsert_account(&self, account: &Account) -> StoreResult<()>;
    async fn account(&self, sid: &str) -> StoreResult<Option<Account>>;
    /// Any one main account (one without an owner), used at start to reuse credentials
    /// generated on an earlier start.
    async fn first_account(&self) -> StoreResult<Option<Account>>;
    /// Every account, oldest first (for `depot migrate`).
    async fn list_accounts(&self) -> StoreResult<Vec<Account>>;

    /// Inserts a subaccount (or any account with its every field); its `seq` is assigned.
    /// `NotFound` when its owner does not exist; `Conflict` when the SID is taken.
    async fn create_account(&self, account: &AccountRecord) -> StoreResult<AccountRecord>;
    /// The account `sid` with every field, if it exists.
    async fn account_record(&self, sid: &str) -> StoreResult<Option<AccountRecord>>;
    /// One page of the accounts in `scope` that match `filter`, in creation order.
    async fn list_account_records(
        &self,
        scope: AccountScope<'_>,
        filter: &AccountFilter<'_>,
        page: PageRequest,
    ) -> StoreResult<Page<AccountRecord>>;
    /// Changes an account in one statement; a closed account's status is left closed.
    async fn update_account(
        &self,
        sid: &str,
        patch: &AccountPatch,
        now: i64,
    ) -> StoreResult<AccountRecord>;

    /// Inserts an API key; `NotFound` when its account does not exist.
    async fn create_key(&self, key: &ApiKey) -> StoreResult<ApiKey>;
    /// The key `sid` of `account_sid`; `NotFound` otherwise.
    async fn key(&self, account_sid: &str, sid: &str) -> StoreResult<ApiKey>;
    /// The key `sid` whatever its account, for authentication. Always read from the
    /// database (never cached), so a deleted key is refused from the next request on, on
    /// every node.
    async fn key_for_auth(&self, sid: &str) -> StoreResult<Option<ApiKey>>;
    async fn list_keys(&self, account_sid: &str, page: PageRequest) -> StoreResult<Page<ApiKey>>;
    /// Sets a key's friendly name when `friendly_name` is given, and its `date_updated`.
    async fn rename_key(
        &self,
        account_sid: &str,
        sid: &str,
        friendly_name: Option<&str>,
        now: i64,
    ) -> StoreResult<ApiKey>;
    async fn delete_key(&self, account_sid: &str, sid: &str) -> StoreResult<()>;

    /// Inserts `service` unless the account already holds `max_services` (0 = no limit).
    async fn create_service(&self, service: &Service, max_services: u32) -> StoreResult<Service>;
    async fn service(&self, account_sid: &str, key: ServiceKey<'_>) -> StoreResult<Service>;
    async fn list_services(
        &self,
        account_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Service>>;
    async fn update_service(
        &self,
        sid: &str,
        patch: &ServicePatch,
        now: i64,
    ) -> StoreResult<Service>;
    /// Deletes the service and every row below it.
    async fn delete_service(&self, sid: &str) -> StoreResult<()>;

    /// The Service `key` names in the account, and its Asset or Function `sid`: what every
    /// request below a container resolves first. A backend whose reads are round trips
    /// answers it in one.
    async fn service_container(
        &self,
        account_sid: &str,
        key: ServiceKey<'_>,
        kind: ContainerKind,
        sid: &str,
    ) -> StoreResult<(Service, Container)> {
        let service = self.service(account_sid, key).await?;
        let container = self.container(kind, &service.sid, sid).await?;
        Ok((service, container))
    }

    async fn create_container(
        &self,
        kind: ContainerKind,
        container: &Container,
    ) -> StoreResult<Container>;
    async fn container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<Container>;
    /// Shared, because the read cache hands the same page to every reader.
    async fn list_containers(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<std::sync::Arc<Page<Container>>>;
    async fn rename_container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
        friendly_name: &str,
        now: i64,
    ) -> StoreResult<Container>;
    async fn delete_container(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sid: &str,
    ) -> StoreResult<()>;

    /// Inserts a version; `NotFound` when its Asset or Function is gone.
    async fn create_version(&self, kind: ContainerKind, version: &Version) -> StoreResult<Version>;
    async fn version(
        &self,
        kind: ContainerKind,
        container_sid: &str,
        sid: &str,
    ) -> StoreResult<Version>;
    async fn list_versions(
        &self,
        kind: ContainerKind,
        container_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Version>>;
    /// Every content hash some version references, for blob garbage collection.
    async fn referenced_blobs(&self) -> StoreResult<Vec<String>>;
    /// Protects content `sha256` from garbage collection until `until` or until released: an
    /// upload holds the content it is about to reference. `false` while a collector is
    /// deleting that content (hold again shortly, then store the content anew).
    async fn hold_blob(&self, sha256: &str, holder: &str, until: i64) -> StoreResult<bool>;
    async fn release_blob(&self, sha256: &str, holder: &str) -> StoreResult<()>;
    /// Marks for deletion those of `candidates` that no version references and no hold
    /// protects at `now`, forgets their precompressed copies, and returns them. Serialised
    /// with [`Store::hold_blob`] per hash, so a hold either comes first and saves the content
    /// or sees the mark.
    async fn doom_blobs(&self, candidates: &[String], now: i64) -> StoreResult<Vec<String>>;
    /// Content marked for deletion and not yet cleared (a collector stopped midway).
    async fn doomed_blobs(&self) -> StoreResult<Vec<String>>;
    /// Clears the marks of content that is now deleted.
    async fn clear_doomed(&self, sha256s: &[String]) -> StoreResult<()>;
    /// Takes or renews the lease `name` for `holder` until `until`, unless another holder's
    /// lease still runs at `now`; `true` when `holder` has it.
    async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64)
        -> StoreResult<bool>;
    /// Versions of `kind` in `service_sid` with the given SIDs (unknown ones are left out).
    async fn versions_by_sid(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        sids: &[String],
    ) -> StoreResult<Vec<Version>>;

    /// Inserts an environment unless the service already has `max_environments` (0 = none).
    async fn create_environment(
        &self,
        environment: &Environment,
        max_environments: u32,
    ) -> StoreResult<Environment>;
    async fn environment(&self, service_sid: &str, sid: &str) -> StoreResult<Environment>;
    async fn list_environments(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Environment>>;
    /// Deletes the environment with its variables, deployments and logs.
    async fn delete_environment(&self, service_sid: &str, sid: &str) -> StoreResult<()>;

    /// Inserts a build and its version links (asset and function version SIDs, in order),
    /// unless the account's builds-per-hour quota is used up (`RateLimited`).
    async fn create_build(
        &self,
        build: &Build,
        assets: &[String],
        functions: &[String],
        quota: BuildQuota,
    ) -> StoreResult<Build>;
    async fn build(&self, service_sid: &str, sid: &str) -> StoreResult<BuildDetail>;
    async fn list_builds(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<BuildDetail>>;
    /// Claims for `holder` until `until` the oldest `building` build that nobody holds at
    /// `now`: each build is worked on by one node, and a node that dies lets its claim lapse.
    async fn claim_build(&self, holder: &str, now: i64, until: i64) -> StoreResult<Option<Build>>;
    /// Extends `holder`'s claim on build `sid`; `false` when the claim is no longer its own.
    async fn renew_build_claim(&self, sid: &str, holder: &str, until: i64) -> StoreResult<bool>;
    /// Sets the final status of a build that is still `building`.
    async fn finish_build(
        &self,
        sid: &str,
        status: BuildStatus,
        failure: Option<&str>,
        now: i64,
    ) -> StoreResult<()>;
    /// Deletes a build; `InUse(environment sid)` while an environment serves it.
    async fn delete_build(&self, service_sid: &str, sid: &str) -> StoreResult<()>;
    /// Records a precompressed copy of some content (replacing an earlier record of it).
    async fn record_encoding(&self, encoded: &Encoded) -> StoreResult<()>;
    async fn encodings(&self, sha256: &str) -> StoreResult<Vec<Encoded>>;

    /// Inserts a deployment and points its environment at the build, atomically. A build of
    /// another service is `NotFound`, an unfinished one `NotCompleted`.
    async fn create_deployment(&self, deployment: &Deployment) -> StoreResult<Deployment>;
    async fn deployment(&self, environment_sid: &str, sid: &str) -> StoreResult<Deployment>;
    async fn list_deployments(
        &self,
        environment_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Deployment>>;

    async fn create_variable(&self, variable: &Variable) -> StoreResult<Variable>;
    async fn variable(&self, environment_sid: &str, sid: &str) -> StoreResult<Variable>;
    async fn list_variables(
        &self,
        environment_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Variable>>;
    async fn update_variable(
        &self,
        environment_sid: &str,
        sid: &str,
        key: Option<&str>,
        value: Option<&str>,
        now: i64,
    ) -> StoreResult<Variable>;
    async fn delete_variable(&self, environment_sid: &str, sid: &str) -> StoreResult<()>;

    async fn create_log(&self, log: &Log) -> StoreResult<Log>;
    async fn log(&self, environment_sid: &str, sid: &str) -> StoreResult<Log>;
    /// Logs newest first.
    async fn list_logs(
        &self,
        environment_sid: &str,
        filter: &LogFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Log>>;

    /// What the asset host serves at `domain_name`, if an environment has that domain.
    async fn site(&self, domain_name: &str) -> StoreResult<Option<Site>>;
    /// Sites changed by any node sharing this store: a deployment, or an environment or
    /// service deleted. Whoever caches sites follows this.
    fn site_changes(&self) -> tokio::sync::broadcast::Receiver<SiteChange>;

    /// Records a console session, and forgets every session expired at `now`.
    async fn create_console_session(&self, session: &ConsoleSession, now: i64) -> StoreResult<()>;
    /// The console session whose cookie secret hashes to `id_hash`, unless expired at `now`.
    async fn console_session(&self, id_hash: &str, now: i64)
        -> StoreResult<Option<ConsoleSession>>;
    /// Ends a console session (signing out); no error when it is already gone.
    async fn delete_console_session(&self, id_hash: &str) -> StoreResult<()>;
    /// At most `max` versions of `kind` in `service_sid`, oldest first, in one read: what the
    /// console shows of a Service's files.
    async fn list_service_versions(
        &self,
        kind: ContainerKind,
        service_sid: &str,
        max: u32,
    ) -> StoreResult<Vec<Version>>;

    /// One page of a Service's builds without their versions: what the console lists, at a
    /// cost that does not grow with the files each build holds.
    async fn list_build_rows(
        &self,
        service_sid: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Build>>;

    /// Deletes what retention rules say is no longer kept (see [`Prune`]).
    async fn prune(&self, prune: &Prune) -> StoreResult<Pruned>;
}

/// A change to what the asset host serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteChange {
    /// The site at this domain changed.
    Domain(String),
    /// Any site may have changed (changes were missed): forget them all.
    All,
}

/// What [`Store::prune`] deletes.
#[derive(Debug, Clone, Copy)]
pub struct Prune {
    /// Logs created before this time (`None`: kept forever).
    pub logs_before: Option<i64>,
    /// Logs beyond the newest this many of each Environment (0 = no limit).
    pub max_logs_per_environment: u32,
    /// Build creation records before this time (outside the builds-per-hour window).
    pub builds_before: i64,
}

/// What [`Store::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub logs: u64,
}

/// Opens the backend named by `url`'s scheme: `sqlite:` or `postgres:`/`postgresql:`, with a
/// read cache of at most `cache_bytes` where the backend allows one.
pub async fn open(url: &str, cache_bytes: u64) -> StoreResult<std::sync::Arc<dyn Store>> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        // One process owns an SQLite file, so its reads may be cached (see `cache`).
        "sqlite" => Ok(std::sync::Arc::new(cache::CachedStore::new(
            SqliteStore::open(url).await?,
            cache_bytes,
        ))),
        // No read cache: it is exact only while every write passes through it, and other
        // nodes write to a shared database behind its back.
        "postgres" | "postgresql" => Ok(std::sync::Arc::new(PgStore::open(url).await?)),
        other => Err(StoreError::Backend(
            format!("unsupported database URL scheme {other:?}: use sqlite:// or postgres://")
                .into(),
        )),
    }
}
