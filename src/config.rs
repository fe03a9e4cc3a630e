//! The command line and `DEPOT_*` environment (the operator contract), parsed into a
//! validated [`Config`]. Bad values fail at start, naming the flag.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::domain::sid::{self, Prefix};
pub use crate::server::{ConnectionLimits, MIN_HEADER_BYTES};

/// A positive number of seconds (fractions allowed), naming the flag when it is not.
fn seconds(flag: &str, value: f64) -> Result<std::time::Duration, String> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(std::time::Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "{flag}: {value} is not a positive number of seconds"
        ))
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "depot",
    version,
    about = "Self-hosted Twilio Serverless v1: API and asset host"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API and the asset host on one listener.
    Serve(Box<ServeArgs>),
    /// Copy every account, resource and blob to another database and content store (e.g.
    /// from the embedded default to PostgreSQL + S3). The target must be empty and unserved.
    Migrate(MigrateArgs),
    /// Deploy a project folder (`assets/`, `functions/`) to an environment, uploading only
    /// what changed, and wait until it is live.
    Deploy(crate::cli::deploy::DeployArgs),
    /// List services, their environments with domains, and the build each serves.
    Ls(crate::cli::manage::LsArgs),
    /// Redeploy the build that was live before the current one.
    Rollback(crate::cli::manage::EnvironmentArgs),
    /// Print an environment's logs (`--follow` for new ones as they come).
    Logs(crate::cli::manage::LogsArgs),
    /// Create or list subaccounts (needs the account's auth token, not a key).
    Accounts(crate::cli::accounts::AccountsArgs),
    /// Create, list or delete API keys (needs the account's auth token, not a key).
    Keys(crate::cli::accounts::KeysArgs),
}

/// Flags of `depot migrate`. URLs may hold passwords, so none is printed.
#[derive(Clone, Args)]
pub struct MigrateArgs {
    /// The data dir of the source, for its default database and blobs.
    #[arg(long, env = "DEPOT_DATA_DIR", default_value = "./depot-data")]
    pub data_dir: PathBuf,
    /// Source database; default: `depot.db` in the data dir.
    #[arg(long)]
    pub from_database_url: Option<String>,
    /// Source content store; default: the `blobs` folder in the data dir.
    #[arg(long)]
    pub from_blob_url: Option<String>,
    /// Target database, e.g. `postgres://depot@db:5432/depot`.
    #[arg(long)]
    pub to_database_url: String,
    /// Target content store, e.g. `s3://bucket/depot`.
    #[arg(long)]
    pub to_blob_url: String,
}

impl std::fmt::Debug for MigrateArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrateArgs")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl MigrateArgs {
    /// The source's database and blob URLs, defaults filled in from the data dir.
    pub fn source(&self) -> Result<(String, String), String> {
        let database = self
            .from_database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("depot.db").display()));
        let blobs = match &self.from_blob_url {
            Some(url) => url.clone(),
            None => default_blob_url(&self.data_dir)?,
        };
        Ok((database, blobs))
    }
}

/// `file://` URL of the `blobs` folder in `data_dir`.
fn default_blob_url(data_dir: &std::path::Path) -> Result<String, String> {
    let dir = std::path::absolute(data_dir.join("blobs"))
        .map_err(|e| format!("--data-dir / DEPOT_DATA_DIR: {}: {e}", data_dir.display()))?;
    url::Url::from_directory_path(&dir)
        .map(|url| url.to_string())
        .map_err(|()| format!("--data-dir: {} is not a usable path", dir.display()))
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Flags of `depot serve`; each also reads a `DEPOT_*` variable.
#[derive(Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "DEPOT_LISTEN", default_value = "127.0.0.1:4000")]
    pub listen: SocketAddr,
    /// Serve Prometheus metrics at `/metrics` on this address (a listener of its own, never
    /// an environment's domain); off when not set.
    #[arg(long, env = "DEPOT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log lines as JSON objects (one per line) or as text for people.
    #[arg(long, env = "DEPOT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// Folder for the SQLite database and the blobs by default; with PostgreSQL and S3, only
    /// local scratch.
    #[arg(long, env = "DEPOT_DATA_DIR", default_value = "./depot-data")]
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER[:PASSWORD]@HOST:PORT/DB` (several depots may
    /// share one PostgreSQL database); default: `depot.db` in the data dir.
    #[arg(long, env = "DEPOT_DATABASE_URL")]
    pub database_url: Option<String>,
    /// `file:///PATH` or `s3://BUCKET[/PREFIX]` (configured by the `AWS_*` variables);
    /// default: the `blobs` folder in the data dir.
    #[arg(long, env = "DEPOT_BLOB_URL")]
    pub blob_url: Option<String>,
    /// Base of every `url`, `links.*` and `meta.*_url`; default: `http://` + the Host header.
    #[arg(long, env = "DEPOT_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// Parent domain of every environment's domain.
    #[arg(long, env = "DEPOT_HOST_DOMAIN", default_value = "localhost")]
    pub host_domain: String,
    /// Bootstrap account SID (AC + 32 lowercase hex).
    #[arg(long, env = "DEPOT_ACCOUNT_SID", hide = true)]
    pub account_sid: Option<String>,
    /// Bootstrap account auth token.
    #[arg(long, env = "DEPOT_AUTH_TOKEN", hide = true, hide_env_values = true)]
    pub auth_token: Option<String>,
    /// Services per account (0 = no limit).
    #[arg(long, env = "DEPOT_MAX_SERVICES", default_value_t = 50)]
    pub max_services: u32,
    /// Largest public or protected Asset Version, in bytes (0 = no limit).
    #[arg(long, env = "DEPOT_MAX_PUBLIC_ASSET_BYTES", default_value_t = 25 << 20)]
    pub max_public_asset_bytes: u64,
    /// Largest private Asset Version, in bytes (0 = no limit).
    #[arg(long, env = "DEPOT_MAX_PRIVATE_ASSET_BYTES", default_value_t = 10 << 20)]
    pub max_private_asset_bytes: u64,
    /// Largest Function Version, in bytes (0 = no limit).
    #[arg(long, env = "DEPOT_MAX_FUNCTION_BYTES", default_value_t = 10 << 20)]
    pub max_function_bytes: u64,
    /// Environments per Service (0 = no limit).
    #[arg(long, env = "DEPOT_MAX_ENVIRONMENTS", default_value_t = 25)]
    pub max_environments: u32,
    /// Function Versions per Build (0 = no limit).
    #[arg(long, env = "DEPOT_MAX_BUILD_FUNCTIONS", default_value_t = 50)]
    pub max_build_functions: u32,
    /// Public and protected Asset Versions per Build (0 = no limit).
    #[arg(long, env = "DEPOT_MAX_BUILD_ASSETS", default_value_t = 1000)]
    pub max_build_assets: u32,
    /// Private Asset Versions per Build (0 = no limit).
    #[arg(long, env = "DEPOT_MAX_BUILD_PRIVATE_ASSETS", default_value_t = 50)]
    pub max_build_private_assets: u32,
    /// Builds per account in any 60 minutes (0 = no limit).
    #[arg(long, env = "DEPOT_MAX_BUILDS_PER_HOUR", default_value_t = 100)]
    pub max_builds_per_hour: u32,
    /// Bytes of asset content the host keeps in memory (0 = none).
    #[arg(long, env = "DEPOT_HOST_CACHE_BYTES", default_value_t = 256 << 20)]
    pub host_cache_bytes: u64,
    /// Bytes of metadata kept in memory: site maps, API reads, credentials.
    #[arg(long, env = "DEPOT_METADATA_CACHE_BYTES", default_value_t = 64 << 20)]
    pub metadata_cache_bytes: u64,
    /// Seconds from a request head's first byte to its end before the connection is closed.
    #[arg(long, env = "DEPOT_HEADER_TIMEOUT", default_value_t = 60.0)]
    pub header_timeout: f64,
    /// Seconds a keep-alive connection may sit idle between requests.
    #[arg(long, env = "DEPOT_IDLE_TIMEOUT", default_value_t = 75.0)]
    pub idle_timeout: f64,
    /// Seconds a request may go without reading or writing a byte (a stalled upload or a client
    /// that stopped reading) before its connection is closed.
    #[arg(long, env = "DEPOT_BODY_TIMEOUT", default_value_t = 60.0)]
    pub body_timeout: f64,
    /// Open connections at most (also kept below the open-file limit).
    #[arg(long, env = "DEPOT_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Largest request head (request line and headers) in bytes; more is answered 431.
    #[arg(long, env = "DEPOT_MAX_HEADER_BYTES", default_value_t = 32 << 10)]
    pub max_header_bytes: usize,
    /// Days Logs are kept (0 = forever).
    #[arg(long, env = "DEPOT_LOG_RETENTION_DAYS", default_value_t = 30)]
    pub log_retention_days: u32,
    /// Logs kept per Environment; the oldest go first (0 = no limit).
    #[arg(long, env = "DEPOT_MAX_LOGS_PER_ENVIRONMENT", default_value_t = 10_000)]
    pub max_logs_per_environment: u32,
    /// Logs written per Environment per second, on average; more are dropped (0 = no limit).
    #[arg(long, env = "DEPOT_MAX_LOG_RATE", default_value_t = 10)]
    pub max_log_rate: u32,
    /// The Node.js binary that runs functions; default: `node` on PATH. Without one, builds
    /// with functions fail and function paths answer 503.
    #[arg(long, env = "DEPOT_NODE")]
    pub node: Option<PathBuf>,
    /// The npm binary that installs build dependencies; default: `npm` on PATH.
    #[arg(long, env = "DEPOT_NPM")]
    pub npm: Option<PathBuf>,
    /// Wall time of one function invocation, in milliseconds; then 504.
    #[arg(long, env = "DEPOT_FN_TIMEOUT_MS", default_value_t = 10_000)]
    pub fn_timeout_ms: u64,
    /// Heap of each function worker, in MiB (`--max-old-space-size`); a worker resident over
    /// this plus 128 MiB is stopped.
    #[arg(long, env = "DEPOT_FN_MEMORY_MB", default_value_t = 256)]
    pub fn_memory_mb: u32,
    /// Function invocations running at once per account; more wait, then get 429.
    #[arg(long, env = "DEPOT_FN_ACCOUNT_CONCURRENCY", default_value_t = 30)]
    pub fn_account_concurrency: usize,
    /// How long an invocation waits for a free slot before 429, in milliseconds.
    #[arg(long, env = "DEPOT_FN_QUEUE_MS", default_value_t = 1000)]
    pub fn_queue_ms: u64,
    /// Worker processes per deployed environment at most [default: two per core, 2 to 8].
    #[arg(long, env = "DEPOT_FN_MAX_WORKERS_PER_ENV")]
    pub fn_max_workers_per_env: Option<usize>,
    /// Seconds an idle worker is kept.
    #[arg(long, env = "DEPOT_FN_IDLE_SECS", default_value_t = 300)]
    pub fn_idle_secs: u64,
    /// Largest function request or response body, in bytes.
    #[arg(long, env = "DEPOT_FN_MAX_BODY_BYTES", default_value_t = 6 * 1024 * 1024)]
    pub fn_max_body_bytes: usize,
    /// Bytes of console output kept per invocation (the last ones).
    #[arg(long, env = "DEPOT_FN_LOG_BYTES", default_value_t = 3072)]
    pub fn_log_bytes: usize,
    /// Seconds `npm install` may take in a build.
    #[arg(long, env = "DEPOT_NPM_TIMEOUT_SECS", default_value_t = 240)]
    pub npm_timeout_secs: u64,
    /// Install build dependencies from npm's cache only (`npm install --offline`).
    #[arg(long, env = "DEPOT_NPM_OFFLINE", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub npm_offline: bool,
    /// Do not run install scripts of build dependencies.
    #[arg(long, env = "DEPOT_NPM_IGNORE_SCRIPTS", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub npm_ignore_scripts: bool,
    /// The `twilio` package version added to builds whose Dependencies do not name it.
    #[arg(long, env = "DEPOT_TWILIO_VERSION", default_value = "5.0.3")]
    pub twilio_version: String,
    /// npm's download cache for build installs; default: `functions/npm-cache` in the data dir.
    #[arg(long, env = "DEPOT_NPM_CACHE")]
    pub npm_cache: Option<PathBuf>,
    /// Answer `CONNECT` for Twilio's serverless, upload and api hosts with TLS from a local CA,
    /// so unmodified Twilio clients reach depot through `HTTPS_PROXY` (docs/intercept.md).
    /// `DEPOT_INTERCEPT_TWILIO=1` (or true/yes/on) as the issue and docs spell it.
    #[arg(long, env = "DEPOT_INTERCEPT_TWILIO", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub intercept_twilio: bool,
}

impl std::fmt::Debug for ServeArgs {
    /// The auth token never reaches logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(without_password),
            )
            .field("blob_url", &self.blob_url)
            .field("public_url", &self.public_url)
            .field("host_domain", &self.host_domain)
            .field("account_sid", &self.account_sid)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// `url` with any password replaced, for logs (a `postgres://` URL may carry one).
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.into()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "[unparsable]".to_owned(),
    }
}

/// Validated settings the server runs with.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// `file://…` of the content store.
    pub blob_url: String,
    /// Without a trailing `/`.
    pub public_url: Option<String>,
    /// Lowercase, without a leading or trailing dot.
    pub host_domain: String,
    pub bootstrap: Bootstrap,
    pub limits: Limits,
    pub connections: ConnectionLimits,
    pub logs: LogPolicy,
    /// How often background upkeep runs; not flags (tests shorten them).
    pub upkeep: Upkeep,
    pub runtime: crate::runtime::RuntimeConfig,
    /// `--intercept-twilio`: serve Twilio's hosts through `CONNECT` tunnels.
    pub intercept_twilio: bool,
}

impl std::fmt::Debug for Config {
    /// The database password never reaches logs (the auth token is `Bootstrap`'s to hide).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &without_password(&self.database_url))
            .field("blob_url", &self.blob_url)
            .field("public_url", &self.public_url)
            .field("host_domain", &self.host_domain)
            .field("bootstrap", &self.bootstrap)
            .field("limits", &self.limits)
            .field("connections", &self.connections)
            .field("logs", &self.logs)
            .field("upkeep", &self.upkeep)
            .field("runtime", &self.runtime)
            .field("intercept_twilio", &self.intercept_twilio)
            .finish()
    }
}

/// Timing of the background tasks that collect garbage and apply retention.
#[derive(Debug, Clone)]
pub struct Upkeep {
    /// How often unreferenced content is collected.
    pub gc_every: std::time::Duration,
    /// Content younger than this is never collected: its upload may still be writing its row.
    pub gc_grace: std::time::Duration,
    /// How often Log retention and caps are applied.
    pub prune_every: std::time::Duration,
}

impl Default for Upkeep {
    fn default() -> Self {
        Upkeep {
            gc_every: std::time::Duration::from_secs(1800),
            gc_grace: std::time::Duration::from_secs(3600),
            prune_every: std::time::Duration::from_secs(60),
        }
    }
}

/// How many Logs depot keeps and accepts (COMPAT §5.12, §8).
#[derive(Debug, Clone)]
pub struct LogPolicy {
    /// Logs older than this are deleted (`None`: kept forever).
    pub retention: Option<std::time::Duration>,
    /// Logs kept per Environment (0 = no limit).
    pub max_per_environment: u32,
    /// Logs accepted per Environment per second on average (0 = no limit).
    pub max_rate: u32,
}

impl Default for LogPolicy {
    fn default() -> Self {
        LogPolicy {
            retention: Some(std::time::Duration::from_secs(30 * 24 * 3600)),
            max_per_environment: 10_000,
            max_rate: 10,
        }
    }
}

/// What the operator asked for the bootstrap account.
#[derive(Clone, Default)]
pub struct Bootstrap {
    pub account_sid: Option<String>,
    pub auth_token: Option<String>,
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrap")
            .field("account_sid", &self.account_sid)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Count and size limits (COMPAT §8); 0 means no limit.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_services: u32,
    pub max_public_asset_bytes: u64,
    pub max_private_asset_bytes: u64,
    pub max_function_bytes: u64,
    pub max_environments: u32,
    pub max_build_functions: u32,
    pub max_build_assets: u32,
    pub max_build_private_assets: u32,
    pub max_builds_per_hour: u32,
    pub host_cache_bytes: u64,
    pub metadata_cache_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_services: 50,
            max_public_asset_bytes: 25 << 20,
            max_private_asset_bytes: 10 << 20,
            max_function_bytes: 10 << 20,
            max_environments: 25,
            max_build_functions: 50,
            max_build_assets: 1000,
            max_build_private_assets: 50,
            max_builds_per_hour: 100,
            host_cache_bytes: 256 << 20,
            metadata_cache_bytes: 64 << 20,
        }
    }
}

impl Config {
    /// Checks `args` and fills in defaults derived from the data dir.
    pub fn from_args(args: ServeArgs) -> Result<Config, String> {
        let database_url = args
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", args.data_dir.join("depot.db").display()));
        if let Some(sid) = &args.account_sid {
            if !sid::is_canonical(Prefix::Account, sid) {
                return Err(format!(
                    "DEPOT_ACCOUNT_SID / --account-sid: {sid:?} is not AC followed by 32 lowercase hex digits"
                ));
            }
        }
        if args.max_header_bytes < MIN_HEADER_BYTES {
            return Err(format!(
                "--max-header-bytes / DEPOT_MAX_HEADER_BYTES: must be at least {MIN_HEADER_BYTES}"
            ));
        }
        if args.auth_token.as_deref() == Some("") {
            return Err("DEPOT_AUTH_TOKEN / --auth-token: must not be empty".to_owned());
        }
        let host_domain = args.host_domain.trim_matches('.').to_ascii_lowercase();
        if host_domain.is_empty()
            || !host_domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(format!(
                "--host-domain / DEPOT_HOST_DOMAIN: {:?} is not a domain name",
                args.host_domain
            ));
        }
        let blob_url = match &args.blob_url {
            Some(url) if url.starts_with("file://") || url.starts_with("s3://") => url.clone(),
            Some(url) => {
                return Err(format!(
                    "--blob-url / DEPOT_BLOB_URL: {url:?}: use file:///PATH or s3://BUCKET[/PREFIX]"
                ))
            }
            None => default_blob_url(&args.data_dir)?,
        };
        let public_url = match &args.public_url {
            Some(url) if !matches!(url.scheme(), "http" | "https") => {
                return Err(format!(
                    "--public-url / DEPOT_PUBLIC_URL: {url} is not http(s)"
                ));
            }
            Some(url) => Some(url.as_str().trim_end_matches('/').to_owned()),
            None => None,
        };
        Ok(Config {
            listen: args.listen,
            // Absolute: function workers and npm run in other working directories and are
            // given paths under it.
            data_dir: std::path::absolute(&args.data_dir).map_err(|e| {
                format!(
                    "--data-dir / DEPOT_DATA_DIR: {}: {e}",
                    args.data_dir.display()
                )
            })?,
            database_url,
            blob_url,
            public_url,
            host_domain,
            bootstrap: Bootstrap {
                account_sid: args.account_sid,
                auth_token: args.auth_token,
            },
            limits: Limits {
                max_services: args.max_services,
                max_public_asset_bytes: args.max_public_asset_bytes,
                max_private_asset_bytes: args.max_private_asset_bytes,
                max_function_bytes: args.max_function_bytes,
                max_environments: args.max_environments,
                max_build_functions: args.max_build_functions,
                max_build_assets: args.max_build_assets,
                max_build_private_assets: args.max_build_private_assets,
                max_builds_per_hour: args.max_builds_per_hour,
                host_cache_bytes: args.host_cache_bytes,
                metadata_cache_bytes: args.metadata_cache_bytes,
            },
            connections: ConnectionLimits {
                header_timeout: seconds("--header-timeout", args.header_timeout)?,
                idle_timeout: seconds("--idle-timeout", args.idle_timeout)?,
                body_timeout: seconds("--body-timeout", args.body_timeout)?,
                max_connections: args.max_connections.max(1),
                max_header_bytes: args.max_header_bytes,
            },
            logs: LogPolicy {
                retention: (args.log_retention_days > 0).then(|| {
                    std::time::Duration::from_secs(u64::from(args.log_retention_days) * 24 * 3600)
                }),
                max_per_environment: args.max_logs_per_environment,
                max_rate: args.max_log_rate,
            },
            upkeep: Upkeep::default(),
            runtime: crate::runtime::RuntimeConfig {
                node: args.node.or_else(|| crate::runtime::find_on_path("node")),
                shim: None,
                npm: args.npm.or_else(|| crate::runtime::find_on_path("npm")),
                timeout: std::time::Duration::from_millis(args.fn_timeout_ms.max(1)),
                memory_mb: args.fn_memory_mb.max(16),
                account_concurrency: args.fn_account_concurrency.max(1),
                queue: std::time::Duration::from_millis(args.fn_queue_ms),
                max_workers_per_environment: args
                    .fn_max_workers_per_env
                    .unwrap_or_else(crate::runtime::default_workers)
                    .max(1),
                idle: std::time::Duration::from_secs(args.fn_idle_secs.max(1)),
                max_body_bytes: args.fn_max_body_bytes,
                log_bytes: args.fn_log_bytes,
                install_timeout: std::time::Duration::from_secs(args.npm_timeout_secs.max(1)),
                npm_offline: args.npm_offline,
                npm_ignore_scripts: args.npm_ignore_scripts,
                twilio_version: args.twilio_version,
                npm_cache: args.npm_cache,
                install_root: None,
            },
            intercept_twilio: args.intercept_twilio,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn database_passwords_stay_out_of_logs() {
        assert_eq!(
            without_password("postgres://depot:s3cret@db:5432/depot?sslmode=require"),
            "postgres://depot:redacted@db:5432/depot?sslmode=require"
        );
        assert_eq!(
            without_password("postgres://depot@db/depot"),
            "postgres://depot@db/depot"
        );
        assert_eq!(
            without_password("sqlite:///var/lib/depot/depot.db"),
            "sqlite:///var/lib/depot/depot.db"
        );
    }
}
