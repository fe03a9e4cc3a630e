//! depot: a self-hostable, wire-compatible implementation of Twilio Serverless v1 — the REST
//! API and the asset host — on one listener.

use std::net::SocketAddr;
use std::sync::Arc;

pub mod blob;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod domain;
pub mod error;
pub mod host;
pub mod http;
pub mod intercept;
pub mod metrics;
pub mod migrate;
pub mod runtime;
pub mod server;
pub mod signature;
pub mod store;

use config::Config;
use store::{Account, Store};

/// What every request handler shares; one pointer, since axum clones it per request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`]: the domain's core, and what the HTTP side and the asset host
/// keep beside it.
pub struct Shared {
    pub core: Arc<domain::Core>,
    /// What the asset host serves, per domain.
    pub sites: host::Sites,
    pub accounts: http::auth::AccountCache,
    /// Function workers of this node.
    pub pools: Arc<runtime::pool::Pools>,
}

impl std::ops::Deref for Shared {
    type Target = domain::Core;

    fn deref(&self) -> &domain::Core {
        &self.core
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// A bound, ready server: [`Server::bind`], then [`Server::local_addr`], then [`Server::run`].
pub struct Server {
    listener: server::Listeners,
    state: AppState,
    /// Subscribed before the first request, so no change to a cached site is missed.
    site_changes: tokio::sync::broadcast::Receiver<store::SiteChange>,
    /// With `--intercept-twilio`: the local CA and its certificates.
    intercept: Option<Arc<intercept::Intercept>>,
}

/// Startup failures, each naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open database: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot open the content store: {0}")]
    Blobs(#[from] blob::BlobError),
    #[error("--intercept-twilio: {0}")]
    Intercept(#[from] intercept::InterceptError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The bootstrap account, and whether its secret must be shown to the operator.
pub struct Bootstrapped {
    pub account: Account,
    pub generated: bool,
}

impl Server {
    /// Opens storage, ensures the bootstrap account and binds the listener.
    pub async fn bind(config: Config) -> Result<(Server, Bootstrapped), StartError> {
        private_data_dir(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store = store::open(
            &config.database_url,
            config.limits.metadata_cache_bytes * 3 / 8,
        )
        .await?;
        let blobs = blob::Blobs::open(&config.blob_url)?;
        let interrupted = blobs.remove_interrupted_uploads().await?;
        if interrupted > 0 {
            tracing::info!(
                files = interrupted,
                "removed uploads cut short by a stop or crash"
            );
        }
        let bootstrapped = bootstrap_account(store.as_ref(), &config).await?;
        let intercept = match config.intercept_twilio {
            true => Some(Arc::new(intercept::Intercept::start(
                &config.data_dir,
                &config.host_domain,
            )?)),
            false => None,
        };
        let listener =
            server::Listeners::bind(config.listen).map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let sites = host::Sites::new(
            config.limits.metadata_cache_bytes / 2,
            config.limits.host_cache_bytes,
        );
        let accounts = http::auth::AccountCache::new(config.limits.metadata_cache_bytes / 8);
        let pools = Arc::new(runtime::pool::Pools::new(&config.runtime, &config.data_dir));
        let core = Arc::new(domain::Core {
            store,
            blobs,
            builder: domain::builder::Builder::default(),
            node: node_name(),
            log_budget: domain::logs::LogBudget::new(config.logs.max_rate),
            config,
        });
        let state = AppState(Arc::new(Shared {
            core,
            sites,
            accounts,
            pools,
        }));
        Ok((
            Server {
                listener,
                site_changes: state.store.site_changes(),
                state,
                intercept,
            },
            bootstrapped,
        ))
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The interception state, when `--intercept-twilio` is on (for the lines `serve` prints).
    pub fn intercept(&self) -> Option<&intercept::Intercept> {
        self.intercept.as_deref()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tokio::spawn(collect_garbage_forever(self.state.core.clone()));
        tokio::spawn(domain::logs::keep_bounded_forever(self.state.core.clone()));
        tokio::spawn(domain::builder::run(self.state.core.clone()));
        self.state.pools.announce().await;
        tokio::spawn(runtime::pool::reap_forever(self.state.pools.clone()));
        tokio::spawn(host::follow_site_changes(
            self.state.clone(),
            self.site_changes,
        ));
        let limits = self.state.config.connections.clone();
        let handler = http::handler(self.state);
        server::serve(self.listener, handler, limits, self.intercept, shutdown).await
    }
}

/// Removes unreferenced content now and then; a crash between storing content and writing its
/// row, or a deleted Asset or Function, leaves such content behind.
async fn collect_garbage_forever(core: Arc<domain::Core>) {
    let mut every = tokio::time::interval(core.config.upkeep.gc_every);
    loop {
        every.tick().await;
        match domain::versions::collect_garbage(&core).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed unreferenced content"),
            Err(err) => tracing::warn!(error = %err, "content garbage collection failed"),
        }
        let installs = runtime::install::collect_garbage(&core).await;
        if installs > 0 {
            tracing::info!(removed = installs, "removed unused npm installs");
        }
    }
}

/// Creates the data dir readable by depot's user only, and makes every file depot creates from
/// now on so too: the database holds auth tokens.
fn private_data_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    // Files an older depot made readable to others.
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("depot.db"))
        {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Applies `DEPOT_ACCOUNT_SID` / `DEPOT_AUTH_TOKEN`, reuses the stored account, or makes one.
async fn bootstrap_account(
    store: &dyn Store,
    config: &Config,
) -> Result<Bootstrapped, store::StoreError> {
    let wanted = &config.bootstrap;
    let existing = match &wanted.account_sid {
        Some(sid) => store.account(sid).await?,
        None => store.first_account().await?,
    };
    let (account, generated) = match (existing, &wanted.auth_token) {
        (Some(mut account), Some(token)) => {
            account.auth_token = token.clone();
            (account, false)
        }
        (Some(account), None) => {
            return Ok(Bootstrapped {
                account,
                generated: false,
            })
        }
        (None, token) => {
            let account = Account {
                sid: wanted
                    .account_sid
                    .clone()
                    .unwrap_or_else(|| domain::sid::generate(domain::sid::Prefix::Account)),
                auth_token: token.clone().unwrap_or_else(generate_token),
            };
            (account, token.is_none())
        }
    };
    store.upsert_account(&account).await?;
    Ok(Bootstrapped { account, generated })
}

/// A name unique to this process among the nodes: host, process and a random part (a
/// restarted process on the same host is another node: its old claims must lapse).
fn node_name() -> String {
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let random = domain::sid::generate(domain::sid::Prefix::Request);
    format!("{host}/{}/{}", std::process::id(), &random[2..10])
}

/// 32 lowercase hex digits, like a Twilio auth token.
fn generate_token() -> String {
    let sid = domain::sid::generate(domain::sid::Prefix::Account);
    sid[2..].to_owned()
}
